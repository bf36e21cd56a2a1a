//! Carries out the core's media commands: in the order the core gave them
//! for each leg (a leg is created before it is configured or joins a
//! meeting), and each leg on its own, so a slow command for one leg (a
//! media node far away, a busy worker) never holds up another's.

use std::collections::HashMap;
use std::sync::Arc;

use media_api::{LegId, LegRequest, MediaControl, StreamKind, StreamRequest};
use tokio::sync::mpsc;
use tracing::warn;

use crate::controller::Action;
use crate::core::Input;

/// Runs until the core's command queue closes.
pub async fn run(
    media: Arc<dyn MediaControl>,
    mut commands: mpsc::UnboundedReceiver<Action>,
    in_tx: mpsc::UnboundedSender<Input>,
) {
    let mut legs: HashMap<LegId, mpsc::UnboundedSender<Action>> = HashMap::new();
    while let Some(command) = commands.recv().await {
        let Some(leg) = leg_of(&command) else {
            continue;
        };
        if !legs.contains_key(&leg) {
            // Queues whose task has ended (the leg was never created) go.
            legs.retain(|_, queue| !queue.is_closed());
        }
        let last = matches!(command, Action::DestroyLeg { .. });
        let queue = legs.entry(leg).or_insert_with(|| {
            let (queue, rx) = mpsc::unbounded_channel();
            tokio::spawn(leg_commands(media.clone(), rx, in_tx.clone()));
            queue
        });
        let _ = queue.send(command);
        if last {
            // Its task ends once the queue is drained.
            legs.remove(&leg);
        }
    }
}

fn leg_of(command: &Action) -> Option<LegId> {
    match command {
        Action::CreateLeg { leg, .. }
        | Action::ConfigureLeg { leg, .. }
        | Action::DestroyLeg { leg }
        | Action::JoinMeeting { leg, .. }
        | Action::Prompt { leg, .. }
        | Action::SendKeyframe { leg }
        | Action::SetLayout { leg, .. } => Some(*leg),
        Action::TakeSeat { .. } | Action::ReleaseSeat { .. } => None,
    }
}

/// One leg's commands, one at a time; ends when its queue closes or its
/// leg could not be created.
async fn leg_commands(
    media: Arc<dyn MediaControl>,
    mut commands: mpsc::UnboundedReceiver<Action>,
    in_tx: mpsc::UnboundedSender<Input>,
) {
    while let Some(command) = commands.recv().await {
        let (leg, result) = match command {
            Action::CreateLeg { leg, ip, video } => {
                let kinds = [StreamKind::Audio, StreamKind::Video];
                let streams = kinds[..1 + usize::from(video)]
                    .iter()
                    .map(|&kind| StreamRequest { kind })
                    .collect();
                let request = LegRequest { ip, streams };
                let result = media
                    .create_leg(leg, request)
                    .await
                    .map_err(|e| e.to_string());
                let created = result.is_ok();
                let _ = in_tx.send(Input::LegCreated { leg, result });
                if !created {
                    return;
                }
                continue;
            }
            Action::ConfigureLeg { leg, media: params } => {
                (leg, media.configure_leg(leg, params).await)
            }
            Action::DestroyLeg { leg } => (leg, media.destroy_leg(leg).await),
            Action::JoinMeeting { leg, join } => (leg, media.join_meeting(leg, join).await),
            Action::Prompt { leg, prompt } => (leg, media.play(leg, prompt).await),
            Action::SendKeyframe { leg } => (leg, media.send_keyframe(leg).await),
            Action::SetLayout { leg, change } => (leg, media.set_layout(leg, change).await),
            _ => continue,
        };
        if let Err(e) = result {
            warn!(leg = leg.0, error = %e, "media command failed");
        }
    }
}

#[cfg(test)]
mod tests {
    use std::future::pending;
    use std::net::{IpAddr, Ipv4Addr, SocketAddr};

    use media_api::{
        BoundStream, LegMedia, LegStats, MediaError, MediaFuture, MeetingJoin, Prompt,
    };

    use super::*;
    use media_api::layout::{LayoutChange, MeetingLayout};

    /// Media whose leg 1 never finishes being created.
    struct StuckOnLegOne;

    impl MediaControl for StuckOnLegOne {
        fn create_leg(&self, leg: LegId, request: LegRequest) -> MediaFuture<'_, Vec<BoundStream>> {
            Box::pin(async move {
                if leg == LegId(1) {
                    pending::<()>().await;
                }
                let rtp = SocketAddr::new(request.ip, 40000);
                Ok(vec![BoundStream {
                    kind: StreamKind::Audio,
                    rtp,
                    rtcp: SocketAddr::new(request.ip, 40001),
                    dtls_fingerprint: None,
                }])
            })
        }
        fn configure_leg(&self, _: LegId, _: LegMedia) -> MediaFuture<'_, ()> {
            Box::pin(async { Ok(()) })
        }
        fn destroy_leg(&self, _: LegId) -> MediaFuture<'_, ()> {
            Box::pin(async { Ok(()) })
        }
        fn join_meeting(&self, _: LegId, _: MeetingJoin) -> MediaFuture<'_, ()> {
            Box::pin(async { Ok(()) })
        }
        fn play(&self, _: LegId, _: Prompt) -> MediaFuture<'_, ()> {
            Box::pin(async { Ok(()) })
        }
        fn set_muted(&self, _: LegId, _: bool) -> MediaFuture<'_, ()> {
            Box::pin(async { Ok(()) })
        }
        fn send_keyframe(&self, _: LegId) -> MediaFuture<'_, ()> {
            unimplemented!()
        }
        fn send_digit(&self, _: LegId, _: char) -> MediaFuture<'_, ()> {
            Box::pin(async { Ok(()) })
        }
        fn set_layout(&self, _: LegId, _: LayoutChange) -> MediaFuture<'_, ()> {
            Box::pin(async { Ok(()) })
        }
        fn set_meeting_layout(&self, _: String, _: MeetingLayout) -> MediaFuture<'_, ()> {
            Box::pin(async { Ok(()) })
        }
        fn stats(&self, leg: LegId) -> MediaFuture<'_, LegStats> {
            Box::pin(async move { Err(MediaError::UnknownLeg(leg)) })
        }
    }

    #[tokio::test]
    async fn a_stuck_leg_does_not_hold_up_another() {
        let (commands, rx) = mpsc::unbounded_channel();
        let (in_tx, mut inputs) = mpsc::unbounded_channel();
        tokio::spawn(run(Arc::new(StuckOnLegOne), rx, in_tx));
        let ip = IpAddr::V4(Ipv4Addr::LOCALHOST);
        for leg in [LegId(1), LegId(2)] {
            let video = false;
            commands.send(Action::CreateLeg { leg, ip, video }).unwrap();
        }
        match inputs.recv().await {
            Some(Input::LegCreated { leg, result }) => {
                assert_eq!(leg, LegId(2));
                assert_eq!(result.unwrap()[0].rtp.port(), 40000);
            }
            _ => panic!("leg 2 was not created"),
        }
    }
}
