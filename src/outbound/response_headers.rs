//! A receiver's or endpoint's response headers, bounded before anything keeps them: hyper
//! accepts heads of ~400 KB, and the delivery log would store them whole for every attempt.
//! At most [`MAX_BYTES`] are kept: every name while they fit (then a marker says how many
//! were left out), and the longest values cut first, each cut one marked as such.

/// What is kept of one response's headers, names and values together.
pub const MAX_BYTES: usize = 8 * 1024;
/// Names alone may take at most this much, so values always keep room.
const MAX_NAME_BYTES: usize = MAX_BYTES / 2;
/// Appended to a value that was cut.
pub const CUT_MARK: &str = "…[cut]";
/// The pseudo-header that says how many headers were left out.
pub const LEFT_OUT: &str = "x-therethere-headers-left-out";

pub fn bound(headers: Vec<(String, String)>) -> Vec<(String, String)> {
    let total: usize = headers.iter().map(|(n, v)| n.len() + v.len()).sum();
    if total <= MAX_BYTES {
        return headers;
    }
    let mut kept = Vec::new();
    let mut name_bytes = 0;
    let count = headers.len();
    for (name, value) in headers {
        if name_bytes + name.len() > MAX_NAME_BYTES {
            break;
        }
        name_bytes += name.len();
        kept.push((name, value));
    }
    let left_out = count - kept.len();
    let marker = (left_out > 0).then(|| (LEFT_OUT.to_string(), left_out.to_string()));
    let room = MAX_BYTES - name_bytes - marker.as_ref().map_or(0, |(n, v)| n.len() + v.len());
    let cap = value_cap(&kept, room);
    let mut bounded: Vec<(String, String)> = kept
        .into_iter()
        .map(|(name, value)| {
            if value.len() <= cap {
                (name, value)
            } else if cap < CUT_MARK.len() {
                // So many headers that even the mark does not fit: the value goes.
                (name, String::new())
            } else {
                let cut = floor_char_boundary(&value, cap.saturating_sub(CUT_MARK.len()));
                (name, format!("{}{CUT_MARK}", &value[..cut]))
            }
        })
        .collect();
    bounded.extend(marker);
    bounded
}

/// The largest length every value may keep so that all of them fit in `room` bytes (values
/// longer than it are cut to it, mark included).
fn value_cap(headers: &[(String, String)], room: usize) -> usize {
    let fits = |cap: usize| -> bool {
        headers.iter().map(|(_, v)| v.len().min(cap)).sum::<usize>() <= room
    };
    let (mut low, mut high) = (0, headers.iter().map(|(_, v)| v.len()).max().unwrap_or(0));
    while low < high {
        let mid = (low + high).div_ceil(2);
        if fits(mid) { low = mid } else { high = mid - 1 }
    }
    low
}

fn floor_char_boundary(s: &str, at: usize) -> usize {
    let mut at = at.min(s.len());
    while !s.is_char_boundary(at) {
        at -= 1;
    }
    at
}

#[cfg(test)]
mod tests {
    use super::*;
    use proptest::prelude::*;

    fn size(headers: &[(String, String)]) -> usize {
        headers.iter().map(|(n, v)| n.len() + v.len()).sum()
    }

    #[test]
    fn small_heads_are_kept_as_they_are() {
        let headers = vec![("content-type".to_string(), "application/json".to_string())];
        assert_eq!(bound(headers.clone()), headers);
    }

    #[test]
    fn the_longest_values_are_cut_and_marked_and_the_short_ones_kept() {
        let headers = vec![
            ("retry-after".to_string(), "30".to_string()),
            ("x-huge".to_string(), "a".repeat(360 * 1024)),
            ("x-big".to_string(), "é".repeat(10_000)),
        ];
        let bounded = bound(headers);
        assert!(size(&bounded) <= MAX_BYTES, "{}", size(&bounded));
        assert_eq!(bounded[0], ("retry-after".to_string(), "30".to_string()));
        assert!(bounded[1].1.ends_with(CUT_MARK) && bounded[2].1.ends_with(CUT_MARK));
        assert_eq!(bounded.len(), 3, "every name kept");
    }

    #[test]
    fn too_many_names_are_counted_not_kept() {
        let headers: Vec<_> = (0..20_000)
            .map(|i| (format!("x-header-{i}"), "v".to_string()))
            .collect();
        let bounded = bound(headers);
        assert!(size(&bounded) <= MAX_BYTES);
        let (name, value) = bounded.last().unwrap();
        assert_eq!(name, LEFT_OUT);
        assert_eq!(value.parse::<usize>().unwrap() + bounded.len() - 1, 20_000);
    }

    proptest! {
        #[test]
        fn any_head_fits_and_keeps_what_fits(headers in proptest::collection::vec((".{0,40}", ".{0,3000}"), 0..60)) {
            let bounded = bound(headers.clone());
            prop_assert!(size(&bounded) <= MAX_BYTES);
            if size(&headers) <= MAX_BYTES {
                prop_assert_eq!(bounded, headers);
            }
        }
    }
}
