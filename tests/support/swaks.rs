//! What a `swaks` conversation said: the transcript, and the server's
//! answers read from it (swaks marks the server's lines `<-`, errors `<-*`,
//! and the same inside TLS with `~`).

/// One swaks conversation: its transcript (stdout and stderr).
pub struct Swaks {
    pub transcript: String,
}

impl Swaks {
    /// The queue id when the server accepted the message.
    pub fn queue_id(&self) -> Option<String> {
        self.transcript
            .lines()
            .find_map(|line| line.split_once(" Ok: queued as "))
            .map(|(_, id)| id.trim().to_owned())
    }

    /// The first error reply whose code starts with `class` (`4` or `5`).
    pub fn reply(&self, class: char) -> Option<String> {
        self.transcript
            .lines()
            .find(|line| {
                (line.starts_with("<-* ") || line.starts_with("<~* "))
                    && line[4..].starts_with(class)
                    && line.get(4..7).is_some_and(|code| {
                        code.chars().all(|character| character.is_ascii_digit())
                    })
            })
            .map(str::to_owned)
    }

    /// The first 5xx reply of the server.
    pub fn refusal(&self) -> Option<String> {
        self.reply('5')
    }

    #[track_caller]
    pub fn assert_queued(&self, what: &str) -> String {
        match self.queue_id() {
            Some(id) => id,
            None => panic!("{what}: not accepted\n{}", self.transcript),
        }
    }

    #[track_caller]
    pub fn assert_refused(&self, what: &str) -> String {
        assert!(
            self.queue_id().is_none(),
            "{what}: accepted, expected a 5xx refusal\n{}",
            self.transcript
        );
        match self.refusal() {
            Some(line) => line,
            None => panic!("{what}: no 5xx reply\n{}", self.transcript),
        }
    }
}
