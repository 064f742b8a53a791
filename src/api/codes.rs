//! Every error code a client can see, with its HTTP status and what it means: the one catalogue.
//!
//! An [`super::ApiError`] is built from a [`Code`] of this list, so a handler cannot invent a code
//! or give a known code another status. `docs/api.md`'s table of error codes and the OpenAPI
//! document are tested against [`ALL`].

/// A stable error code: part of the API contract.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Code {
    /// SCREAMING_SNAKE_CASE, as sent in `error.code`.
    pub name: &'static str,
    /// The HTTP status it is sent with.
    pub status: u16,
    /// One line: when a client gets it.
    pub meaning: &'static str,
}

impl Code {
    /// The catalogue's entry for a name, if there is one.
    pub fn find(name: &str) -> Option<Code> {
        ALL.iter().copied().find(|c| c.name == name)
    }
}

macro_rules! catalogue {
    ($($name:ident = $status:literal, $meaning:literal;)*) => {
        $(pub const $name: Code = Code { name: stringify!($name), status: $status, meaning: $meaning };)*
        /// Every code, in the order of the list.
        pub const ALL: &[Code] = &[$($name),*];
    };
}

catalogue! {
    // The HTTP layer, every route.
    BAD_REQUEST = 400, "the HTTP layer refused a malformed request";
    INVALID_ID = 400, "a workspace or session id is not [a-z0-9][a-z0-9_-]{0,62}";
    INVALID_JSON = 400, "the body is not JSON";
    INVALID_FIELD = 400, "a field is missing, unknown, of the wrong type or out of its bounds";
    INVALID_PATH = 400, "a path segment could not be parsed";
    INVALID_QUERY = 400, "the query string could not be parsed";
    BODY_READ_FAILED = 400, "the body could not be read to its end";
    UNAUTHORIZED = 401, "missing or invalid signature (same answer for every cause)";
    FORBIDDEN = 403, "the HTTP layer refused the request";
    WORKSPACE_FORBIDDEN = 403, "the key may not act on this workspace (or on admin routes)";
    IP_NOT_ALLOWED = 403, "the caller's address is not in auth.allow_ips";
    ROUTE_NOT_FOUND = 404, "no such route";
    METHOD_NOT_ALLOWED = 405, "the route exists, the method does not (Allow lists them)";
    REQUEST_TIMEOUT = 408, "the body did not arrive within server.body_timeout_ms";
    PAYLOAD_TOO_LARGE = 413, "the body is larger than server.max_body_bytes";
    UNSUPPORTED_MEDIA_TYPE = 415, "a JSON route got another content type";
    TOO_MANY_REQUESTS = 429, "the HTTP layer refused the request for its rate";
    INTERNAL = 500, "anything unexpected; the cause is logged under the request id";
    NOT_READY = 503, "/health/ready with a failing check";
    SHUTTING_DOWN = 503, "the process is stopping and the session's actor has closed";
    SERVER_BUSY = 503, "the bytes unauthenticated requests may hold are in use; retry shortly";
    UNAVAILABLE = 503, "the HTTP layer could not serve the request now";
    // Sessions.
    INVALID_REQUEST = 400, "the session refused the request's input";
    INVALID_CALLBACK_URL = 400, "a callback URL is not http(s) without credentials";
    CALLBACK_URL_NOT_PUBLIC = 400, "a callback URL names a loopback, private or metadata address";
    INVALID_METADATA = 400, "metadata has more than 20 keys, a key not 1-40 characters or a value over 500";
    INVALID_PHONE = 400, "a phone number is not 7-15 digits (a leading + allowed)";
    INVALID_FORMAT = 400, "the QR format is not png, raw or data-url";
    SESSION_NOT_FOUND = 404, "no such session in the workspace";
    QR_NOT_AVAILABLE = 404, "the session has no QR right now";
    SESSION_EXISTS = 409, "a session with this id already exists in the workspace";
    SESSION_LIMIT_REACHED = 409, "this sidecar runs its maximum of sessions";
    WORKSPACE_SESSION_LIMIT_REACHED = 409, "the workspace has its maximum of sessions";
    SESSION_NOT_AWAITING_LOGIN = 409, "a QR or pairing code asked while the session waits for no login";
    SESSION_NOT_RUNNING = 409, "the session's browser is not running";
    SESSION_LOCKED = 409, "another process holds the session's lock";
    WHATSAPP_ERROR = 502, "WhatsApp Web refused the operation";
    SESSION_TIMEOUT = 504, "the session did not answer within sessions.command_timeout_ms";
    ENGINE_TIMEOUT = 504, "the browser did not answer in time";
    // Callbacks.
    INVALID_LIMIT = 400, "a page limit is out of its range";
    INVALID_CURSOR = 400, "cursor is not a next_cursor of a previous page";
    DEAD_LETTER_NOT_FOUND = 404, "no dead letter with this id";
    CALLBACK_QUEUE_FULL = 503, "the workspace's callbacks queue (or the whole outbox) is at its bound of events or bytes";
    // Sending.
    MISSING_FIELD = 400, "a field the message type needs is missing";
    INVALID_RECIPIENT = 400, "to is not a phone number or a chat id";
    INVALID_TEXT = 400, "a text is empty or longer than its limit";
    INVALID_MEDIA = 400, "media data is not base64 of a file of the type";
    INVALID_MIME_TYPE = 400, "a mime_type is not allowed for the message type";
    MEDIA_TOO_LARGE = 400, "the media is larger than WhatsApp's limit for its type";
    MEDIA_TYPE_MISMATCH = 400, "the media's bytes are not of its mime_type";
    INVALID_MEDIA_LINK = 400, "a media link is not an http(s) URL without credentials";
    MEDIA_LINK_REFUSED = 400, "a media link names an address the outbound policy refuses";
    MEDIA_LINK_FAILED = 400, "a media link could not be fetched";
    INVALID_CAPTION = 400, "a caption is empty or too long";
    INVALID_FILENAME = 400, "a filename is empty, too long or has a path in it";
    INVALID_LOCATION = 400, "a location's coordinates or texts are out of range";
    INVALID_CONTACTS = 400, "a contacts message's cards are missing or malformed";
    INVALID_REACTION = 400, "a reaction is not one emoji (or empty to remove)";
    INVALID_POLL = 400, "a poll's name, options or selectable count are out of range";
    INVALID_MENTIONS = 400, "a mention is not a phone number or is not in the text";
    INVALID_MESSAGE_ID = 400, "a message id is not ours nor WhatsApp's";
    INVALID_CLIENT_REF = 400, "client_ref is empty or longer than its limit";
    INVALID_IDEMPOTENCY_KEY = 400, "Idempotency-Key is not 1-255 printable ASCII characters";
    INVALID_CHAT = 400, "a chat id of a message operation is not valid";
    MESSAGE_NOT_FOUND = 404, "no message with this id in the session";
    SESSION_NOT_READY = 409, "the session is not connected (nor on its way there)";
    MESSAGE_NOT_SENT = 409, "the message has no WhatsApp id yet";
    NOT_EDITABLE = 409, "the message cannot be edited (type, direction or age)";
    NOT_REVOCABLE = 409, "the message cannot be deleted for everyone any more";
    IDEMPOTENCY_KEY_REUSED = 422, "the Idempotency-Key was used for a different message";
    RECIPIENT_NOT_FOUND = 422, "the recipient is not on WhatsApp";
    QUEUE_FULL = 429, "the session's queue is full (Retry-After)";
    SENDING_LIMIT_REACHED = 429, "the daily cap is reached (Retry-After)";
    NEW_CHAT_LIMIT_REACHED = 429, "the day's cap of first messages to new chats is reached (Retry-After)";
    // Receiving.
    INVALID_BEFORE = 400, "before is not a message id of this session";
    INVALID_CHAT_ID = 400, "a chat id is not digits@c.us, id@g.us, id@lid or a phone number";
    INVALID_CONTACT_ID = 400, "a contact id is not digits@c.us, id@lid or a phone number";
    INVALID_GROUP_ID = 400, "a group id is not id@g.us";
    MEDIA_NOT_FOUND = 404, "no media with this id in the session";
    GROUP_NOT_FOUND = 404, "the account is not in that group";
    MEDIA_NOT_STORED = 409, "the media failed to download or check; refetch tries again";
    MEDIA_EXPIRED = 410, "the media is past its retention and was deleted";
    RANGE_NOT_SATISFIABLE = 416, "Range is not one range inside the file";
}

/// The code for an error response that did not come from an [`super::ApiError`] (actix's own).
pub fn for_status(status: u16) -> Code {
    match status {
        401 => UNAUTHORIZED,
        403 => FORBIDDEN,
        404 => ROUTE_NOT_FOUND,
        405 => METHOD_NOT_ALLOWED,
        408 => REQUEST_TIMEOUT,
        413 => PAYLOAD_TOO_LARGE,
        415 => UNSUPPORTED_MEDIA_TYPE,
        429 => TOO_MANY_REQUESTS,
        503 => UNAVAILABLE,
        500..=599 => INTERNAL,
        _ => BAD_REQUEST,
    }
}

#[cfg(test)]
mod tests {
    use std::collections::BTreeSet;

    use super::*;

    #[test]
    fn codes_are_unique_and_errors() {
        let names: BTreeSet<_> = ALL.iter().map(|c| c.name).collect();
        assert_eq!(names.len(), ALL.len(), "a code is listed twice");
        for c in ALL {
            assert!((400..600).contains(&c.status), "{} has status {}", c.name, c.status);
            assert!(!c.meaning.is_empty(), "{} has no meaning", c.name);
        }
    }

    /// The rows `| status | `CODE` | when |` of the table under `## Error codes` in a page.
    fn documented(page: &str) -> Vec<(u16, String)> {
        let section = page.split("\n## Error codes\n").nth(1).expect("a `## Error codes` section");
        let section = section.split("\n## ").next().unwrap_or(section);
        let mut rows = Vec::new();
        for line in section.lines().filter(|l| l.starts_with('|')) {
            let cells: Vec<&str> = line.trim_matches('|').split('|').map(str::trim).collect();
            let (Some(status), Some(code)) = (cells.first(), cells.get(1)) else { continue };
            let Ok(status) = status.parse::<u16>() else { continue };
            rows.push((status, code.trim_matches('`').to_owned()));
        }
        rows
    }

    #[test]
    fn docs_api_md_lists_exactly_the_catalogue() {
        let page = include_str!("../../docs/api.md");
        let mut doc = documented(page);
        let rows = doc.len();
        doc.sort();
        doc.dedup();
        assert_eq!(rows, doc.len(), "docs/api.md lists a code twice");
        let mut ours: Vec<(u16, String)> =
            ALL.iter().map(|c| (c.status, c.name.to_owned())).collect();
        ours.sort();
        let missing: Vec<_> = ours.iter().filter(|c| !doc.contains(c)).collect();
        let unknown: Vec<_> = doc.iter().filter(|c| !ours.contains(c)).collect();
        assert!(
            missing.is_empty() && unknown.is_empty(),
            "docs/api.md's error table differs from src/api/codes.rs\n\
             in the catalogue, not in the docs (or another status): {missing:?}\n\
             in the docs, not in the catalogue (or another status): {unknown:?}"
        );
    }

    /// Every `(status, code)` a page gives: the rows of its `| status | code | when |` tables (a
    /// cell may name several codes, split by `,` or `/`) and a status written before a code in
    /// prose (`404 \`MEDIA_NOT_FOUND\``).
    fn mentioned(page: &str) -> Vec<(u16, String)> {
        let mut found = Vec::new();
        let mut in_table = false;
        for line in page.lines() {
            let cells: Vec<&str> =
                line.trim().trim_matches('|').split('|').map(str::trim).collect();
            if !line.starts_with('|') {
                in_table = false;
                continue;
            }
            if cells.len() >= 2 && cells[0] == "status" && cells[1] == "code" {
                in_table = true;
                continue;
            }
            let Some(status) = cells.first().and_then(|s| s.parse::<u16>().ok()) else { continue };
            if in_table {
                for code in cells[1].split([',', '/']).map(|c| c.trim().trim_matches('`')) {
                    found.push((status, code.to_owned()));
                }
            }
        }
        let prose = regex::Regex::new(r"\b([1-5][0-9]{2}) `([A-Z][A-Z0-9_]+)`").unwrap();
        for cap in prose.captures_iter(page) {
            found.push((cap[1].parse().unwrap(), cap[2].to_owned()));
        }
        found
    }

    #[test]
    fn the_other_pages_name_codes_of_the_catalogue_with_their_status() {
        let pages = [
            ("docs/sessions.md", include_str!("../../docs/sessions.md")),
            ("docs/messages.md", include_str!("../../docs/messages.md")),
            ("docs/callbacks.md", include_str!("../../docs/callbacks.md")),
        ];
        for (name, page) in pages {
            let found = mentioned(page);
            assert!(found.len() >= 7, "{name}: no error table found ({found:?})");
            let wrong: Vec<_> = found
                .iter()
                .filter(|(status, code)| Code::find(code).is_none_or(|c| c.status != *status))
                .collect();
            assert!(
                wrong.is_empty(),
                "{name} names codes that are not in src/api/codes.rs, or with another status: {wrong:?}"
            );
        }
    }

    #[test]
    fn the_pages_check_sees_a_wrong_status_and_an_unknown_code() {
        let page = "## Errors\n\n| status | code | when |\n|---|---|---|\n| 404 | `INVALID_ID`, `NOPE` | x |\n\nthen 409 `SESSION_EXISTS`.\n";
        let found = mentioned(page);
        assert_eq!(found.len(), 3, "{found:?}");
        let wrong: Vec<_> =
            found.iter().filter(|(s, c)| Code::find(c).is_none_or(|c| c.status != *s)).collect();
        assert_eq!(wrong.len(), 2, "{wrong:?}");
    }

    #[test]
    fn the_docs_check_sees_a_drift() {
        let page = "# x\n\n## Error codes\n\n| status | code | when |\n|---|---|---|\n| 404 | `INVALID_ID` | x |\n\n## Next\n| 400 | `NOPE` | y |\n";
        assert_eq!(documented(page), vec![(404, "INVALID_ID".to_owned())]);
    }
}
