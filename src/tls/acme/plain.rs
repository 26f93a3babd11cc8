//! ACME errors in an administrator's words. A connection to the ACME server
//! that fails on its certificate reaches us as hyper's `client error
//! (Connect)` around rustls's `invalid peer certificate:
//! Other(OtherError(CaUsedAsEndEntity))`: true, but it names neither the
//! cause nor the fix. The rustls error found in the chain is put first as a
//! sentence that does; the whole chain follows, for whoever digs further.

use rustls::CertificateError as E;

/// `e` as the log and `STATUS=` show it: the plain sentence, when there is
/// one, then `e` with its causes.
pub fn describe(e: &anyhow::Error) -> String {
    match e.chain().find_map(certificate_error).map(sentence) {
        Some(plain) => format!("{plain} (in detail: {e:#})"),
        None => format!("{e:#}"),
    }
}

/// The rustls certificate error in one link of the chain: itself, or
/// inside `io::Error`s (hyper-rustls nests two; their `source()` skips the
/// error they wrap).
fn certificate_error<'a>(link: &'a (dyn std::error::Error + 'static)) -> Option<&'a E> {
    let mut link = link;
    while let Some(inner) = link
        .downcast_ref::<std::io::Error>()
        .and_then(std::io::Error::get_ref)
    {
        link = inner;
    }
    match link.downcast_ref::<rustls::Error>()? {
        rustls::Error::InvalidCertificate(c) => Some(c),
        _ => None,
    }
}

/// What is wrong with the ACME server's certificate and what to do.
fn sentence(e: &E) -> &'static str {
    match e {
        // webpki's reason reaches rustls as an opaque error: its name is
        // all there is to tell it by.
        E::Other(other) if other.to_string() == "CaUsedAsEndEntity" => {
            "the ACME server's certificate is a CA certificate, not a server certificate: \
             give the CA that signed it with acme-ca"
        }
        E::UnknownIssuer => {
            "the ACME server's certificate is signed by a CA this host does not trust: \
             give that CA with acme-ca"
        }
        E::NotValidForName | E::NotValidForNameContext { .. } => {
            "the ACME server's certificate does not name the host in acme-directory"
        }
        E::Expired | E::ExpiredContext { .. } => "the ACME server's certificate has expired",
        E::NotValidYet | E::NotValidYetContext { .. } => {
            "the ACME server's certificate is not valid yet: is this host's clock right?"
        }
        E::Revoked => "the ACME server's certificate is revoked",
        _ => "the ACME server's certificate is refused",
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    /// The chain as hyper-rustls builds it: rustls's error in an
    /// `io::Error` in another, under the client's context.
    #[test]
    fn a_certificate_error_inside_io_errors_is_put_in_words() {
        let tls = rustls::Error::InvalidCertificate(E::UnknownIssuer);
        let io = std::io::Error::other(std::io::Error::new(std::io::ErrorKind::InvalidData, tls));
        let e = anyhow::Error::new(io).context("ACME directory https://ca.test/dir");
        assert_eq!(
            describe(&e),
            "the ACME server's certificate is signed by a CA this host does not trust: \
             give that CA with acme-ca (in detail: ACME directory https://ca.test/dir: \
             invalid peer certificate: UnknownIssuer)"
        );
        let other = anyhow::anyhow!("connection refused").context("ACME directory x");
        assert_eq!(describe(&other), "ACME directory x: connection refused");
    }
}
