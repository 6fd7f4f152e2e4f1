//! A ticket's thread is read a page at a time: however many messages and notes a ticket has
//! gathered, reading it costs the same.

/// Which part of a ticket's thread to read: the newest `limit` before a message or note id.
#[derive(Debug, Clone, Copy)]
pub struct ThreadPage {
    pub before: Option<i64>,
    pub limit: i64,
}

impl ThreadPage {
    pub const DEFAULT: i64 = 50;
    pub const MAX: i64 = 200;

    pub fn newest() -> Self {
        ThreadPage {
            before: None,
            limit: Self::DEFAULT,
        }
    }

    /// How many rows to ask for, newest first: one beyond the page tells whether earlier
    /// ones exist.
    pub fn rows_to_fetch(&self) -> i64 {
        self.limit + 1
    }

    /// The page from rows fetched newest first: oldest first, and whether earlier rows exist.
    pub fn from_newest<T>(&self, mut rows: Vec<T>) -> (Vec<T>, bool) {
        let earlier = rows.len() as i64 > self.limit;
        rows.truncate(self.limit.max(0) as usize);
        rows.reverse();
        (rows, earlier)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn a_page_is_the_newest_rows_oldest_first_and_says_whether_more_exist() {
        let page = ThreadPage {
            before: None,
            limit: 2,
        };
        assert_eq!(page.from_newest(vec![5, 4, 3]), (vec![4, 5], true));
        assert_eq!(page.from_newest(vec![5, 4]), (vec![4, 5], false));
    }
}
