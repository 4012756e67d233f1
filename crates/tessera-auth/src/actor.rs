//! [`Actor`]: who performs a staff action, for its audit event.

use tessera_store::User;

use crate::accounts::account_name;
use crate::audit::Audit;
use crate::client::ClientInfo;

/// Who acts: a staff member through the admin API, or someone at the command line.
#[derive(Debug, Clone, Copy)]
pub enum Actor<'a> {
    /// A staff member, through the admin API.
    Staff {
        /// The staff member.
        user: &'a User,
        /// Their client.
        client: &'a ClientInfo,
    },
    /// Someone at the server's command line (`detail.via = "cli"`).
    CommandLine,
}

impl Actor<'_> {
    /// The event `name` about `user`, by this actor.
    pub(crate) fn event(&self, name: &str, user: &User) -> Audit {
        let audit = Audit::new(name).user(user.id);
        match self {
            Self::Staff {
                user: staff,
                client,
            } => audit.actor(staff).client(client),
            Self::CommandLine => audit.login_name(account_name(user)).via_cli(),
        }
    }

    /// The event `name` about no user in particular (a key change), by this actor.
    pub(crate) fn plain_event(&self, audit: Audit) -> Audit {
        match self {
            Self::Staff { user, client } => audit.actor(user).client(client),
            Self::CommandLine => audit.via_cli(),
        }
    }
}
