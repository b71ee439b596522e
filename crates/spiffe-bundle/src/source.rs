use std::sync::Arc;

use crate::{JwtBundle, JwtBundleSet, X509Bundle, X509BundleSet};

/// Anything that can hand out the X.509 bundle of a trust domain.
///
/// Verification asks for exactly one trust domain, the one of the peer's SPIFFE ID, and uses
/// only that bundle. A long-lived, updating source implements this on the snapshot it hands
/// out, so that one verification sees one consistent set of bundles.
pub trait X509BundleSource {
    /// The bundle of `trust_domain` (a trust domain name such as `"example.org"`), or `None`
    /// when there is none.
    fn x509_bundle(&self, trust_domain: &str) -> Option<&X509Bundle>;
}

impl X509BundleSource for X509BundleSet {
    fn x509_bundle(&self, trust_domain: &str) -> Option<&X509Bundle> {
        self.get(trust_domain)
    }
}

/// A single bundle answers for its own trust domain only.
impl X509BundleSource for X509Bundle {
    fn x509_bundle(&self, trust_domain: &str) -> Option<&X509Bundle> {
        (self.trust_domain().as_str() == trust_domain).then_some(self)
    }
}

impl<S: X509BundleSource + ?Sized> X509BundleSource for &S {
    fn x509_bundle(&self, trust_domain: &str) -> Option<&X509Bundle> {
        (**self).x509_bundle(trust_domain)
    }
}

impl<S: X509BundleSource + ?Sized> X509BundleSource for Arc<S> {
    fn x509_bundle(&self, trust_domain: &str) -> Option<&X509Bundle> {
        (**self).x509_bundle(trust_domain)
    }
}

/// Anything that can hand out the JWT bundle of a trust domain.
///
/// JWT-SVID validation asks for the trust domain of the token's `sub` and looks the signing
/// key up by `kid` in that bundle only. Like [`X509BundleSource`], an updating source
/// implements this on the snapshot it hands out.
pub trait JwtBundleSource {
    /// The bundle of `trust_domain` (a trust domain name such as `"example.org"`), or `None`
    /// when there is none.
    fn jwt_bundle(&self, trust_domain: &str) -> Option<&JwtBundle>;
}

impl JwtBundleSource for JwtBundleSet {
    fn jwt_bundle(&self, trust_domain: &str) -> Option<&JwtBundle> {
        self.get(trust_domain)
    }
}

/// A single bundle answers for its own trust domain only.
impl JwtBundleSource for JwtBundle {
    fn jwt_bundle(&self, trust_domain: &str) -> Option<&JwtBundle> {
        (self.trust_domain().as_str() == trust_domain).then_some(self)
    }
}

impl<S: JwtBundleSource + ?Sized> JwtBundleSource for &S {
    fn jwt_bundle(&self, trust_domain: &str) -> Option<&JwtBundle> {
        (**self).jwt_bundle(trust_domain)
    }
}

impl<S: JwtBundleSource + ?Sized> JwtBundleSource for Arc<S> {
    fn jwt_bundle(&self, trust_domain: &str) -> Option<&JwtBundle> {
        (**self).jwt_bundle(trust_domain)
    }
}
