//! Password hashes in `xxl_job_user.password`. New hashes are argon2id PHC strings (97 characters with the
//! default parameters; the column holds 100). Users adopted from an upstream database keep their unsalted hex
//! digest (SHA-256 since 3.2.0, MD5 in 2.4.x) until their next login, when [`Verdict::Valid`] asks for a
//! rehash. Upstream's well-known default password (`123456`) is never accepted: such a user must be reset.

use argon2::password_hash::{PasswordHash, PasswordHasher, PasswordVerifier, SaltString};
use argon2::{Algorithm, Argon2, Params, Version};
use md5::{Digest as _, Md5};
use rand::Rng as _;
use rand::distributions::Alphanumeric;
use rand::rngs::OsRng;
use sha2::Sha256;
use subtle::ConstantTimeEq as _;

/// Length of generated passwords: 24 characters of 62 give about 143 bits.
pub const GENERATED_LENGTH: usize = 24;

/// Upstream's seed hash of `123456` since 3.2.0 (SHA-256 hex).
const UPSTREAM_DEFAULT_SHA256: &str = "8d969eef6ecad3c29a3a629280e686cf0c3f5d5a86aff3ca12020c923adc6c92";
/// Upstream's seed hash of `123456` in 2.4.x (MD5 hex).
const UPSTREAM_DEFAULT_MD5: &str = "e10adc3949ba59abbe56e057f20f883e";

/// The outcome of checking a password against a stored hash.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum Verdict {
    /// The password matches. `rehash` asks the caller to store [`hash`] of it instead: the stored hash is an
    /// upstream digest or uses other argon2 parameters than the current ones.
    Valid {
        /// Whether the stored hash should be replaced.
        rehash: bool,
    },
    /// The password does not match, or the stored value is no hash this admin knows.
    Invalid,
    /// The stored hash is upstream's default password, which is public: no password opens it, the user
    /// must be given a new one (`xjob admin reset-password <user>`).
    ResetRequired,
}

/// Hashing failed (only a broken random source or invalid parameters can cause it).
#[derive(Debug, thiserror::Error)]
#[error("hashing the password failed: {0}")]
pub struct HashError(String);

/// The argon2id PHC string of `password`, with a fresh random salt.
pub fn hash(password: &str) -> Result<String, HashError> {
    let salt = SaltString::generate(&mut OsRng);
    hasher()
        .hash_password(password.as_bytes(), &salt)
        .map(|hash| hash.to_string())
        .map_err(|error| HashError(error.to_string()))
}

/// Checks `password` against a stored hash (argon2 PHC, or an adopted user's SHA-256/MD5 hex).
pub fn verify(password: &str, stored: &str) -> Verdict {
    let stored = stored.trim();
    if is_upstream_default(stored) {
        return Verdict::ResetRequired;
    }
    if stored.starts_with('$') {
        let Ok(parsed) = PasswordHash::new(stored) else {
            return Verdict::Invalid;
        };
        if hasher().verify_password(password.as_bytes(), &parsed).is_err() {
            return Verdict::Invalid;
        }
        let current = parsed.algorithm == Algorithm::Argon2id.ident()
            && Params::try_from(&parsed).is_ok_and(|params| {
                let wanted = Params::default();
                (params.m_cost(), params.t_cost(), params.p_cost())
                    == (wanted.m_cost(), wanted.t_cost(), wanted.p_cost())
            });
        return Verdict::Valid { rehash: !current };
    }
    let digest = match stored.len() {
        64 => hex(&Sha256::digest(password.as_bytes())),
        32 => hex(&Md5::digest(password.as_bytes())),
        _ => return Verdict::Invalid,
    };
    if bool::from(digest.as_bytes().ct_eq(stored.to_ascii_lowercase().as_bytes())) {
        Verdict::Valid { rehash: true }
    } else {
        Verdict::Invalid
    }
}

/// Whether a stored hash is upstream's seed hash of its default password `123456`.
pub fn is_upstream_default(stored: &str) -> bool {
    let stored = stored.trim();
    stored.eq_ignore_ascii_case(UPSTREAM_DEFAULT_SHA256) || stored.eq_ignore_ascii_case(UPSTREAM_DEFAULT_MD5)
}

/// A new random password of [`GENERATED_LENGTH`] letters and digits from the operating system's CSPRNG.
pub fn generate() -> String {
    OsRng
        .sample_iter(&Alphanumeric)
        .take(GENERATED_LENGTH)
        .map(char::from)
        .collect()
}

fn hasher() -> Argon2<'static> {
    Argon2::new(Algorithm::Argon2id, Version::V0x13, Params::default())
}

fn hex(bytes: &[u8]) -> String {
    bytes.iter().map(|byte| format!("{byte:02x}")).collect()
}

#[cfg(test)]
mod tests {
    use super::*;

    fn check(password: &str, stored: &str, expected: Verdict) {
        assert_eq!(
            verify(password, stored),
            expected,
            "{password:?} against {stored:?}"
        );
    }

    #[test]
    fn argon2id_hashes_verify_and_fit_the_column() {
        let stored = hash("correct horse").unwrap();
        assert!(stored.starts_with("$argon2id$v=19$m=19456,t=2,p=1$"), "{stored}");
        assert!(stored.len() <= 100, "{} characters", stored.len());
        assert_ne!(stored, hash("correct horse").unwrap(), "salted");
        check("correct horse", &stored, Verdict::Valid { rehash: false });
        check("correct horsf", &stored, Verdict::Invalid);
        check("", &stored, Verdict::Invalid);
    }

    #[test]
    fn other_argon2_parameters_ask_for_a_rehash() {
        let salt = SaltString::generate(&mut OsRng);
        let params = Params::new(8192, 1, 1, None).unwrap();
        let weaker = Argon2::new(Algorithm::Argon2id, Version::V0x13, params)
            .hash_password(b"pw", &salt)
            .unwrap()
            .to_string();
        check("pw", &weaker, Verdict::Valid { rehash: true });
        check("px", &weaker, Verdict::Invalid);
    }

    #[test]
    fn adopted_upstream_digests_verify_and_ask_for_a_rehash() {
        // SHA-256 and MD5 of "secret", as upstream 3.x and 2.4.x store them.
        let sha = "2bb80d537b1da3e38bd30361aa855686bde0eacd7162fef6a25fe97bf527a25b";
        let md5 = "5ebe2294ecd0e0f08eab7690d2a6ee69";
        check("secret", sha, Verdict::Valid { rehash: true });
        check(
            "secret",
            &sha.to_ascii_uppercase(),
            Verdict::Valid { rehash: true },
        );
        check("secret", md5, Verdict::Valid { rehash: true });
        check("Secret", sha, Verdict::Invalid);
        check("Secret", md5, Verdict::Invalid);
    }

    #[test]
    fn the_upstream_default_password_is_refused() {
        for stored in [UPSTREAM_DEFAULT_SHA256, UPSTREAM_DEFAULT_MD5] {
            check("123456", stored, Verdict::ResetRequired);
            check("anything", stored, Verdict::ResetRequired);
            assert!(is_upstream_default(stored));
        }
        assert!(!is_upstream_default(&hash("123456").unwrap()));
    }

    #[test]
    fn unknown_stored_values_never_match() {
        check("", "", Verdict::Invalid);
        check("x", "x", Verdict::Invalid);
        check("pw", "$argon2id$garbage", Verdict::Invalid);
        check("pw", "plain-text-password", Verdict::Invalid);
    }

    #[test]
    fn generated_passwords_are_long_and_different() {
        let first = generate();
        assert_eq!(first.len(), GENERATED_LENGTH);
        assert!(first.chars().all(|c| c.is_ascii_alphanumeric()), "{first}");
        assert_ne!(first, generate());
    }
}
