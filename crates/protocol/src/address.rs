//! Pure string helpers that turn configured or registered addresses into endpoint URLs, the way upstream
//! builds them, and split comma-separated address lists.
//!
//! No URL parsing or validation happens here: an address is used as the text it is, like upstream does.

use crate::java::trim;
use crate::{ADMIN_API_PATH, AdminEndpoint, ExecutorEndpoint, Generation};

/// The URL of an executor endpoint: the registered or manual `address` trimmed, one trailing `/` removed,
/// then `/<endpoint>` — `http://10.0.0.5:9999/` becomes `http://10.0.0.5:9999/beat`.
///
/// G1 appends a `/` when missing instead of removing one; both give the same URL for every address.
pub fn executor_url(address: &str, endpoint: ExecutorEndpoint, generation: Generation) -> String {
    format!(
        "{}{}",
        without_trailing_slash(trim(address)),
        endpoint.path(generation)
    )
}

/// The URL of an admin endpoint: the admin base URL trimmed, `/` appended when missing, then `api/<name>` —
/// `http://host:8080/xxl-job-admin` becomes `http://host:8080/xxl-job-admin/api/registry`.
pub fn admin_url(base: &str, endpoint: AdminEndpoint) -> String {
    format!(
        "{}{ADMIN_API_PATH}/{}",
        without_trailing_slash(trim(base)),
        endpoint.name()
    )
}

/// The entries of a comma-separated address list (admin addresses, a group's `address_list`, a manual
/// trigger's `addressList`): each trimmed, empty ones dropped, order kept.
pub fn split_address_list(list: &str) -> impl Iterator<Item = &str> {
    list.split(',').map(trim).filter(|address| !address.is_empty())
}

fn without_trailing_slash(address: &str) -> &str {
    address.strip_suffix('/').unwrap_or(address)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn executor_urls() {
        use ExecutorEndpoint::*;
        use Generation::*;
        fn check(address: &str, endpoint: ExecutorEndpoint, generation: Generation, url: &str) {
            assert_eq!(executor_url(address, endpoint, generation), url, "{address:?}");
        }
        check("http://10.0.0.5:9999/", Beat, G3, "http://10.0.0.5:9999/beat");
        check("http://10.0.0.5:9999", Beat, G1, "http://10.0.0.5:9999/beat");
        check(
            " http://10.0.0.5:9999/ \n",
            Trigger,
            G3,
            "http://10.0.0.5:9999/trigger",
        );
        check("http://10.0.0.5:9999/", Trigger, G2, "http://10.0.0.5:9999/run");
        check(
            "https://exec.example/ctx/",
            Log,
            G1,
            "https://exec.example/ctx/log",
        );
        check("http://h:1//", Kill, G3, "http://h:1//kill");
        check("http://h:1", IdleBeat, G2, "http://h:1/idleBeat");
    }

    #[test]
    fn admin_urls() {
        use AdminEndpoint::*;
        fn check(base: &str, endpoint: AdminEndpoint, url: &str) {
            assert_eq!(admin_url(base, endpoint), url, "{base:?}");
        }
        check(
            "http://host:8080/xxl-job-admin",
            Registry,
            "http://host:8080/xxl-job-admin/api/registry",
        );
        check(
            "http://host:8080/xxl-job-admin/",
            Callback,
            "http://host:8080/xxl-job-admin/api/callback",
        );
        check(
            "http://host:8080",
            RegistryRemove,
            "http://host:8080/api/registryRemove",
        );
        check("  http://host:8080/ ", AddJob, "http://host:8080/api/addJob");
    }

    #[test]
    fn address_lists() {
        fn check(list: &str, entries: &[&str]) {
            assert_eq!(split_address_list(list).collect::<Vec<_>>(), entries, "{list:?}");
        }
        check("", &[]);
        check(" , ,, ", &[]);
        check("http://a:8080", &["http://a:8080"]);
        check(
            " http://a/ ,http://b,, \thttp://c\n",
            &["http://a/", "http://b", "http://c"],
        );
    }
}
