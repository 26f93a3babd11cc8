# shellcheck shell=bash
# Apache2 and Caddy in front of websockify, for scripts/e2e-browser: each
# runs the site debian/examples ships, on a loopback port of the test's, in
# the foreground with its own config in a directory of the test's (no
# system service). The caller sources scripts/lib/common.sh first.

# front_apache DIR PORT BACKEND_PORT CERT KEY: writes DIR/apache2.conf (the
# modules the shipped apache2-novnc.conf uses, then that site on
# 127.0.0.1:PORT with CERT/KEY, relaying to 127.0.0.1:BACKEND_PORT), then
# becomes Apache in the foreground: run it in the background.
front_apache() {
  local dir=$1 port=$2 backend=$3 cert=$4 key=$5 m spare
  spare=$(free_port)
  sed -e "s|\*:443|127.0.0.1:$port|; s|\*:80|127.0.0.1:$spare|" \
      -e "s|/etc/letsencrypt/live/vnc.example.com/fullchain.pem|$cert|" \
      -e "s|/etc/letsencrypt/live/vnc.example.com/privkey.pem|$key|" \
      -e "s|vnc.example.com|127.0.0.1|g; s|127.0.0.1:6080|127.0.0.1:$backend|g" \
      "$ROOT_DIR/debian/examples/apache2-novnc.conf" >"$dir/site.conf"
  {
    printf 'ServerRoot /etc/apache2\nServerName localhost\nDefaultRuntimeDir %s\n' "$dir"
    printf 'PidFile %s/apache2.pid\nErrorLog %s/apache2-error.log\n' "$dir" "$dir"
    [ "$(id -u)" -ne 0 ] || printf 'User www-data\nGroup www-data\n'
    for m in mpm_event authz_core alias headers proxy proxy_http ssl; do
      printf 'LoadModule %s_module /usr/lib/apache2/modules/mod_%s.so\n' "$m" "$m"
    done
    printf 'Listen 127.0.0.1:%s\nListen 127.0.0.1:%s\nInclude %s/site.conf\n' "$port" "$spare" "$dir"
  } >"$dir/apache2.conf"
  exec /usr/sbin/apache2 -f "$dir/apache2.conf" -DFOREGROUND
}

# front_caddy DIR PORT BACKEND_PORT: writes DIR/Caddyfile (global options
# that keep Caddy's state in DIR, its admin endpoint off, then the shipped
# caddy-novnc.Caddyfile for https://127.0.0.1:PORT with `tls internal`,
# relaying to 127.0.0.1:BACKEND_PORT), then becomes Caddy: run it in the
# background.
front_caddy() {
  local dir=$1 port=$2 backend=$3
  {
    printf '{\n\tadmin off\n\thttp_port %s\n\thttps_port %s\n' "$(free_port)" "$port"
    printf '\tauto_https disable_redirects\n\tskip_install_trust\n'
    printf '\tstorage file_system {\n\t\troot %s/caddy\n\t}\n}\n\n' "$dir"
    sed -e "s|^vnc.example.com {|127.0.0.1 {\n\tbind 127.0.0.1|; s|#tls internal|tls internal|" \
        -e "s|127.0.0.1:6080|127.0.0.1:$backend|" "$ROOT_DIR/debian/examples/caddy-novnc.Caddyfile"
  } >"$dir/Caddyfile"
  HOME=$dir XDG_DATA_HOME=$dir/data XDG_CONFIG_HOME=$dir/config \
    exec caddy run --adapter caddyfile --config "$dir/Caddyfile"
}
