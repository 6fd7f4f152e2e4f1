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
}
