//! CONSISTENT_HASH: upstream's ring of 100 virtual nodes per address over a 32-bit MD5 prefix, and a small
//! cache of built rings so a busy group does not rehash its addresses on every trigger.
//!
//! The ring depends only on the address list, so caching it changes no decision.

use std::collections::HashMap;
use std::sync::{Arc, PoisonError, RwLock};

use md5::{Digest, Md5};
use xjob_protocol::JobId;

/// Virtual nodes per address (upstream's `VIRTUAL_NODE_NUM`).
const VIRTUAL_NODES: usize = 100;

/// How many distinct address lists keep their ring; beyond that the cache starts over. Groups are few, so
/// this bound only matters when address lists churn.
const CACHED_RINGS: usize = 256;

/// Rings by the address list they were built from.
#[derive(Default)]
pub(crate) struct RingCache {
    rings: RwLock<HashMap<Vec<String>, Arc<Ring>>>,
}

/// A sorted ring: (key, index into the address list), one entry per distinct key.
pub(crate) struct Ring {
    nodes: Vec<(u32, usize)>,
}

impl RingCache {
    /// The index of the address that `job_id` maps to; `addresses` must not be empty.
    pub(crate) fn pick(&self, job_id: JobId, addresses: &[String]) -> usize {
        self.ring(addresses).pick(job_id)
    }

    fn ring(&self, addresses: &[String]) -> Arc<Ring> {
        let cached = self
            .rings
            .read()
            .unwrap_or_else(PoisonError::into_inner)
            .get(addresses)
            .cloned();
        if let Some(ring) = cached {
            return ring;
        }
        let ring = Arc::new(Ring::build(addresses));
        let mut rings = self.rings.write().unwrap_or_else(PoisonError::into_inner);
        if rings.len() >= CACHED_RINGS {
            rings.clear();
        }
        rings.insert(addresses.to_vec(), Arc::clone(&ring));
        ring
    }
}

impl Ring {
    pub(crate) fn build(addresses: &[String]) -> Ring {
        let mut nodes = Vec::with_capacity(addresses.len() * VIRTUAL_NODES);
        for (index, address) in addresses.iter().enumerate() {
            for node in 0..VIRTUAL_NODES {
                nodes.push((hash(&format!("SHARD-{address}-NODE-{node}")), index));
            }
        }
        // Upstream puts the nodes into a tree map in list order, so on a key collision the later address
        // wins. A stable sort keeps insertion order among equal keys; keeping the last of each run matches.
        nodes.sort_by_key(|&(key, _)| key);
        let mut ring: Vec<(u32, usize)> = Vec::with_capacity(nodes.len());
        for node in nodes {
            match ring.last_mut() {
                Some(last) if last.0 == node.0 => *last = node,
                _ => ring.push(node),
            }
        }
        Ring { nodes: ring }
    }

    /// The first node at or after the job's key, wrapping to the smallest key.
    pub(crate) fn pick(&self, job_id: JobId) -> usize {
        let key = hash(&job_id.to_string());
        let at = self.nodes.partition_point(|&(node_key, _)| node_key < key);
        self.nodes
            .get(at)
            .or_else(|| self.nodes.first())
            .map_or(0, |&(_, index)| index)
    }
}

/// MD5 of the UTF-8 text; digest bytes 0..3 as a little-endian unsigned 32-bit integer.
pub(crate) fn hash(text: &str) -> u32 {
    let digest = Md5::digest(text.as_bytes());
    u32::from_le_bytes([digest[0], digest[1], digest[2], digest[3]])
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn hash_values() {
        // Expected values computed independently with Python's hashlib.
        fn check(text: &str, expected: u32) {
            assert_eq!(hash(text), expected, "{text}");
        }
        check("1", 943_901_380);
        check("12", 3_620_997_826);
        check("-5", 632_340_807);
        check("SHARD-http://10.0.0.1:9999/-NODE-0", 3_725_898_238);
    }

    #[test]
    fn cached_ring_gives_the_same_answer() {
        let addresses: Vec<String> = ["http://a:1", "http://b:1", "http://c:1"]
            .map(String::from)
            .to_vec();
        let cache = RingCache::default();
        let ring = Ring::build(&addresses);
        for job in 0..200 {
            assert_eq!(
                cache.pick(JobId(job), &addresses),
                ring.pick(JobId(job)),
                "job {job}"
            );
        }
        assert_eq!(ring.nodes.len(), 300);
    }
}
