//! [`ClientInfo`]: who is on the other end — the user agent and address recorded with
//! sessions and audit events, and the identity that keys throttles.

/// The longest user-agent text kept.
pub const MAX_USER_AGENT: usize = 512;

/// The client's user agent and IP address, as far as the caller can tell.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct ClientInfo {
    /// The user agent, at most [`MAX_USER_AGENT`] characters.
    pub user_agent: Option<String>,
    /// The client's IP address.
    pub ip: Option<String>,
}

impl ClientInfo {
    /// A client with this user agent (cut to [`MAX_USER_AGENT`] characters) and address.
    pub fn new(user_agent: Option<&str>, ip: Option<String>) -> Self {
        Self {
            user_agent: user_agent.map(|agent| agent.chars().take(MAX_USER_AGENT).collect()),
            ip,
        }
    }

    /// The address that keys throttles (`unknown` when there is none).
    pub fn ident(&self) -> &str {
        self.ip.as_deref().unwrap_or("unknown")
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn user_agents_are_cut_and_a_missing_address_is_unknown() {
        let long = "x".repeat(2 * MAX_USER_AGENT);
        let client = ClientInfo::new(Some(&long), None);
        assert_eq!(client.user_agent.unwrap().len(), MAX_USER_AGENT);
        assert_eq!(ClientInfo::default().ident(), "unknown");
        assert_eq!(
            ClientInfo::new(None, Some("10.0.0.1".into())).ident(),
            "10.0.0.1"
        );
    }
}
