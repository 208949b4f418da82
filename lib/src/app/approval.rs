//! Approval of posts (`domain::approval`): requesting it for an editor's post, and approving or rejecting it.

use serde_json::json;

use super::App;
use crate::domain::approval::{self, Approval, By, RejectionComment};
use crate::domain::{
    AuditEntry, Delivery, DeliveryStatus, Event, EventKind, Post, PostId, Role, WorkspaceId,
};
use crate::error::{Error, Result};
use crate::ports::{PostRecord, StoreError};

/// Who writes or decides on a post, and in which role.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Author {
    pub by: By,
    pub role: Role,
}

impl Author {
    pub fn new(by: By, role: Role) -> Self {
        Author { by, role }
    }
}

impl App {
    /// Whether a post `author` creates or changes in `ws` must wait for approval.
    pub(crate) async fn needs_approval(&self, ws: &WorkspaceId, author: &Author) -> Result<bool> {
        if author.role != Role::Editor {
            return Ok(false);
        }
        let workspace = self
            .stores
            .workspaces
            .get_workspace(ws)
            .await?
            .ok_or(Error::NotFound("workspace"))?;
        Ok(approval::needs_approval(author.role, &workspace.settings))
    }

    /// Records (audit entry and event) that a post now waits for approval.
    pub(crate) async fn approval_requested(&self, post: &Post, by: &By) {
        self.approval_recorded(
            post,
            "post.approval_requested",
            EventKind::PostApprovalRequested,
            json!({"post_id": post.id, "by": by.label()}),
        )
        .await;
    }

    async fn approval_recorded(
        &self,
        post: &Post,
        action: &str,
        kind: EventKind,
        detail: serde_json::Value,
    ) {
        let now = self.now();
        self.audit(
            AuditEntry::new(post.workspace_id.clone(), now, action, detail.clone()).post(&post.id),
        )
        .await;
        self.emit(vec![Event::new(
            kind,
            Some(post.workspace_id.clone()),
            now,
            detail,
        )])
        .await;
    }

    /// The post that waits for approval, and its approval. Who may decide is the route's to check
    /// (`Action::ApprovePosts` in `http::access`: owners, admins and clients).
    async fn pending_post(&self, ws: &WorkspaceId, id: &PostId) -> Result<(PostRecord, Approval)> {
        let record = self.get_post(ws, id).await?;
        let current = record.post.approval.clone().ok_or_else(|| {
            Error::conflict(
                "not_pending_approval",
                "this post is not waiting for approval",
            )
        })?;
        Ok((record, current))
    }

    /// Approves a post that waits: its held deliveries are scheduled for their time (and dispatched at once if it
    /// has passed).
    pub async fn approve_post(
        &self,
        ws: &WorkspaceId,
        id: &PostId,
        decider: &Author,
    ) -> Result<PostRecord> {
        let (record, current) = self.pending_post(ws, id).await?;
        let now = self.now();
        let decided = current
            .approve(decider.by.clone(), now)
            .map_err(|e| Error::conflict("not_pending_approval", e.to_string()))?;
        let mut post = record.post.clone();
        post.approval = Some(decided);
        post.version += 1;
        post.updated_at = now;
        let released: Vec<(Delivery, Option<u64>)> = record
            .deliveries
            .iter()
            .filter(|d| d.status == DeliveryStatus::PendingApproval)
            .filter_map(|d| d.approve(now).ok().map(|next| (next, Some(d.version))))
            .collect();
        self.write_decision(&post, record.post.version, &released)
            .await?;
        self.approval_recorded(
            &post,
            "post.approved",
            EventKind::PostApproved,
            json!({"post_id": post.id, "by": decider.by.label(), "deliveries": released.len()}),
        )
        .await;
        let scheduled: Vec<Delivery> = released.into_iter().map(|(d, _)| d).collect();
        self.dispatch_soon(&scheduled).await;
        self.get_post(ws, id).await
    }

    /// Rejects a post that waits, with a comment: its deliveries stay held until an editor changes it.
    pub async fn reject_post(
        &self,
        ws: &WorkspaceId,
        id: &PostId,
        decider: &Author,
        comment: &str,
    ) -> Result<PostRecord> {
        let comment = RejectionComment::parse(comment).ok_or_else(|| {
            Error::invalid(
                "comment",
                "must be 1 to 2000 characters saying why the post is rejected",
            )
        })?;
        let (record, current) = self.pending_post(ws, id).await?;
        let now = self.now();
        let decided = current
            .reject(decider.by.clone(), comment.clone(), now)
            .map_err(|e| Error::conflict("not_pending_approval", e.to_string()))?;
        let mut post = record.post.clone();
        post.approval = Some(decided);
        post.version += 1;
        post.updated_at = now;
        self.write_decision(&post, record.post.version, &[]).await?;
        self.approval_recorded(
            &post,
            "post.rejected",
            EventKind::PostRejected,
            json!({"post_id": post.id, "by": decider.by.label(), "comment": comment.as_str()}),
        )
        .await;
        self.get_post(ws, id).await
    }

    async fn write_decision(
        &self,
        post: &Post,
        expected: u64,
        deliveries: &[(Delivery, Option<u64>)],
    ) -> Result<()> {
        match self
            .stores
            .posts
            .update_post(post, expected, deliveries, &[])
            .await
        {
            Ok(()) => Ok(()),
            Err(StoreError::Conflict) => Err(Error::conflict(
                "post_changed",
                "the post changed meanwhile; read it again and decide on what it says now",
            )),
            Err(e) => Err(e.into()),
        }
    }
}
