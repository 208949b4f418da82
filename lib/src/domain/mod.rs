//! Pure types and rules: no I/O here.

pub mod account;
pub mod approval;
pub mod bounds;
pub mod content;
pub mod delivery;
pub mod events;
pub mod ids;
pub mod media;
pub mod media_rules;
pub mod options;
pub mod people;
pub mod platform;
pub mod post;
pub mod records;
pub mod roles;
pub mod workspace;

pub use account::{Account, AccountStatus, Profile, SealedTokens, TokenSet};
pub use approval::{Approval, ApprovalState, By, RejectionComment};
pub use delivery::{Claim, Delivery, DeliveryError, DeliveryStatus, InvalidTransition, Published};
pub use events::{Event, EventKind};
pub use ids::{
    AccountId, DeliveryKey, InvitationId, MediaId, PersonId, PostId, UploadId, WorkspaceId,
};
pub use media::{
    MediaFormat, MediaInfo, MediaItem, Recipe, Rendition, RenditionSpec, UploadSession,
};
pub use media_rules::{Assessment, MediaRules, MediaViolation};
pub use options::TargetOptions;
pub use people::{
    EmailAddress, LinkPurpose, OneTimeLink, Person, Session, SessionFlags, SessionToken, SignIn,
    SignInOutcome, TwoFactor,
};
pub use platform::{ContentLimits, PlatformKind, TextMeasure};
pub use post::{Media, MediaKind, Post, ThreadPart};
pub use records::{
    AuditEntry, ConnectStarter, DeletionRequest, DeletionStatus, IdempotencyRecord, OAuthState,
};
pub use roles::{ActedBy, Action, Actor, Invitation, Membership, Role};
pub use workspace::{ApiKey, ApiKeyRecord, Workspace, WorkspaceSettings};
