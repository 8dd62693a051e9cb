//! How big a value is once encoded: what the host counts against a plugin's byte limits.
//! Every string, every list item and every empty record costs bytes, so a result of a
//! million empty checks is as large as it looks.

use serde::Serialize;

/// `value`'s JSON size in bytes, counted without building it and given up just past
/// `max` (the answer is then some number above `max`).
pub fn encoded(value: &impl Serialize, max: u64) -> u64 {
    let mut counter = Counter { n: 0, max };
    let _ = serde_json::to_writer(&mut counter, value);
    counter.n
}

struct Counter {
    n: u64,
    max: u64,
}

impl std::io::Write for Counter {
    fn write(&mut self, buf: &[u8]) -> std::io::Result<usize> {
        self.n += buf.len() as u64;
        if self.n > self.max {
            return Err(std::io::Error::other("over the limit"));
        }
        Ok(buf.len())
    }

    fn flush(&mut self) -> std::io::Result<()> {
        Ok(())
    }
}

#[cfg(test)]
mod tests {
    #[test]
    fn empty_items_cost_bytes_and_counting_stops_early() {
        let many = vec![String::new(); 1_000_000];
        assert_eq!(super::encoded(&vec![String::new(); 3], u64::MAX), 10);
        let n = super::encoded(&many, 1000);
        assert!(n > 1000 && n < 2000, "{n}");
    }
}
