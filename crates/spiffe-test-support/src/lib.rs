//! What the workspace's hostile-input tests share, so that every crate's tests generate cases
//! the same way and hold error messages to the same rules. A dev-dependency only.

#![forbid(unsafe_code)]
#![allow(
    clippy::panic,
    clippy::unwrap_used,
    reason = "test support: a failed assertion is the point"
)]

/// xorshift64*: small, deterministic and good enough to spread test cases. Seed it with a
/// constant so that every run tries the same cases.
#[derive(Clone, Debug)]
pub struct Rng(pub u64);

impl Rng {
    /// The next 64 random bits.
    pub fn next_u64(&mut self) -> u64 {
        self.0 ^= self.0 >> 12;
        self.0 ^= self.0 << 25;
        self.0 ^= self.0 >> 27;
        self.0.wrapping_mul(0x2545_f491_4f6c_dd1d)
    }

    /// A number in `0..n`; `n` must not be zero.
    pub fn below(&mut self, n: usize) -> usize {
        let n = u64::try_from(n).unwrap_or(u64::MAX);
        usize::try_from(self.next_u64() % n).unwrap_or(0)
    }

    /// `len` random bytes.
    pub fn bytes(&mut self, len: usize) -> Vec<u8> {
        (0..len).map(|_| self.next_u64().to_le_bytes()[0]).collect()
    }

    /// One of `items`, which must not be empty.
    pub fn pick<'a, T>(&mut self, items: &'a [T]) -> &'a T {
        &items[self.below(items.len())]
    }
}

/// The message rules of STYLE.md: non-empty, lowercase first (a leading all-caps acronym such
/// as `SPIFFE`, `PEM` or `DER` is allowed), no trailing period; every message in the source
/// chain non-empty.
pub fn assert_message(err: &dyn std::error::Error) {
    check_message(err, true);
}

/// As [`assert_message`], for errors whose message may end with a name from the input (a
/// trust domain such as `example.` ends with a period of its own).
pub fn assert_message_ending_in_name(err: &dyn std::error::Error) {
    check_message(err, false);
}

fn check_message(err: &dyn std::error::Error, check_period: bool) {
    let msg = err.to_string();
    assert!(!msg.is_empty(), "{err:?} has an empty message");

    let first_word: String = msg.chars().take_while(|c| c.is_alphanumeric()).collect();
    let acronym = first_word.len() >= 2 && !first_word.chars().any(char::is_lowercase);
    let first = msg.chars().next().unwrap();
    assert!(
        !first.is_uppercase() || acronym,
        "message of {err:?} is not lowercase-first: {msg:?}"
    );
    if check_period {
        assert!(!msg.ends_with('.'), "message ends with a period: {msg:?}");
    }

    let mut source = err.source();
    while let Some(cause) = source {
        assert!(
            !cause.to_string().is_empty(),
            "empty message in the source chain of {err:?}"
        );
        source = cause.source();
    }
}
