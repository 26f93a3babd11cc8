//! A real web server (Apache2, Caddy) in front of the proxy, started by the
//! test in the foreground with its own config in a temp dir: no system
//! service, no port of the host's. Stopped with SIGTERM when dropped.

use std::net::{SocketAddr, TcpStream};
use std::path::PathBuf;
use std::process::{Child, Command, Stdio};
use std::time::{Duration, Instant};

use super::{blocking, WAIT};

/// A running front end; stopped when dropped.
pub struct FrontEnd {
    child: Child,
    /// Where it logs: shown when it dies or never listens.
    log: PathBuf,
}

impl FrontEnd {
    /// Runs `cmd` (stdout and stderr into `log`) and waits until `addr`
    /// accepts TCP connections. `package` names the Debian package that
    /// has the program, for the failure when it is missing.
    pub fn start(cmd: &mut Command, package: &str, log: PathBuf, addr: SocketAddr) -> FrontEnd {
        let out = std::fs::File::create(&log).expect("front end log");
        let err = out.try_clone().expect("front end log");
        let child = cmd
            .stdin(Stdio::null())
            .stdout(out)
            .stderr(err)
            .spawn()
            .unwrap_or_else(|e| {
                panic!("{package} is needed for this test (apt-get install {package}): {e}")
            });
        let mut server = FrontEnd { child, log };
        server.until_listening(addr);
        server
    }

    /// Everything it logged so far.
    pub fn log(&self) -> String {
        std::fs::read_to_string(&self.log).unwrap_or_default()
    }

    fn until_listening(&mut self, addr: SocketAddr) {
        let deadline = Instant::now() + WAIT;
        let child = &mut self.child;
        let up = blocking(|| loop {
            if let Ok(Some(status)) = child.try_wait() {
                return Err(format!("exited ({status})"));
            }
            if TcpStream::connect_timeout(&addr, Duration::from_secs(1)).is_ok() {
                return Ok(());
            }
            if Instant::now() >= deadline {
                return Err(format!("not listening on {addr} after {WAIT:?}"));
            }
            std::thread::sleep(Duration::from_millis(50));
        });
        if let Err(why) = up {
            panic!("front end {why}; its log:\n{}", self.log());
        }
    }
}

impl Drop for FrontEnd {
    fn drop(&mut self) {
        use nix::sys::signal::{kill, Signal};
        let pid = nix::unistd::Pid::from_raw(self.child.id() as i32);
        let _ = kill(pid, Signal::SIGTERM);
        let deadline = Instant::now() + WAIT;
        while matches!(self.child.try_wait(), Ok(None)) && Instant::now() < deadline {
            std::thread::sleep(Duration::from_millis(20));
        }
        let _ = self.child.kill();
        let _ = self.child.wait();
    }
}
