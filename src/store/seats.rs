//! Seats counted in the shared PostgreSQL database, so that admission
//! holds across the nodes of a cluster: taking a seat locks the meeting's
//! row, checks the meeting as [`meeting::admit`] does, and inserts the seat
//! only while fewer than the limit are held — one transaction, so two nodes
//! admitting at once cannot both take the last seat. Each node renews its
//! own seats every [`RENEW`]; seats not renewed for [`EXPIRE`] (a node that
//! died) stop counting, and a node clears its own at start.

use std::sync::{Arc, Mutex};
use std::time::Duration;

use meeting::seats::{Releasing, Taking};
use meeting::{admit, DirectoryError, Refusal, Seat, SeatId, SeatRequest, Seats};
use sqlx::Row;
use tracing::warn;

use super::meetings::to_meeting;
use super::Store;

/// How often a node renews its seats.
pub const RENEW: Duration = Duration::from_secs(20);
/// How long a seat counts without being renewed.
pub const EXPIRE: Duration = Duration::from_secs(60);

/// One node's view of the shared seats.
pub struct SharedSeats {
    store: Store,
    /// Names this node in the seats table.
    node: String,
    max_participants: usize,
    /// Seats whose release failed (the database was away): released again
    /// at the next renewal, and not renewed meanwhile.
    unreleased: Mutex<Vec<SeatId>>,
}

impl SharedSeats {
    /// Clears the seats `node` held before (it restarted) and keeps its
    /// seats renewed from now on.
    pub async fn start(
        store: Store,
        node: String,
        max_participants: usize,
    ) -> Result<Arc<SharedSeats>, sqlx::Error> {
        sqlx::query("DELETE FROM seats WHERE node = $1")
            .bind(&node)
            .execute(&store.pool)
            .await?;
        let seats = Arc::new(SharedSeats {
            store,
            node,
            max_participants,
            unreleased: Mutex::default(),
        });
        let weak = Arc::downgrade(&seats);
        tokio::spawn(async move {
            let mut tick = tokio::time::interval(RENEW);
            tick.tick().await;
            loop {
                tick.tick().await;
                let Some(seats) = weak.upgrade() else { return };
                if let Err(e) = seats.renew().await {
                    warn!(error = %e, "renewing this node's seats failed");
                }
            }
        });
        Ok(seats)
    }

    async fn renew(&self) -> Result<(), sqlx::Error> {
        let unreleased = std::mem::take(&mut *self.unreleased.lock().expect("unreleased"));
        for seat in unreleased {
            self.release(seat).await;
        }
        sqlx::query("UPDATE seats SET renewed = $1 WHERE node = $2")
            .bind(registrar::unix_now() as i64)
            .bind(&self.node)
            .execute(&self.store.pool)
            .await?;
        Ok(())
    }

    async fn try_take(&self, request: &SeatRequest) -> Result<Result<Seat, Refusal>, sqlx::Error> {
        let mut tx = self.store.pool.begin().await?;
        let row = sqlx::query(concat!(
            "SELECT ",
            columns!(),
            " FROM meetings WHERE number = $1 FOR UPDATE"
        ))
        .bind(&request.number)
        .fetch_optional(&mut *tx)
        .await?;
        let found = row.as_ref().map(to_meeting).transpose()?;
        // Capacity aside, which the insert below decides.
        let meeting = match admit(found, request.password.as_deref()) {
            Ok(meeting) => meeting,
            Err(why) => return Ok(Err(why)),
        };
        let now = registrar::unix_now() as i64;
        let row = sqlx::query(
            "INSERT INTO seats (meeting, node, holder, renewed) SELECT $1, $2, $3, $4 \
             WHERE (SELECT count(*) FROM seats WHERE meeting = $1 AND renewed >= $5) < $6 \
             RETURNING id",
        )
        .bind(&meeting.number)
        .bind(&self.node)
        .bind(&request.holder)
        .bind(now)
        .bind(now - EXPIRE.as_secs() as i64)
        .bind(self.max_participants as i64)
        .fetch_optional(&mut *tx)
        .await?;
        tx.commit().await?;
        Ok(match row {
            Some(row) => Ok(Seat {
                id: row.try_get("id")?,
                meeting,
            }),
            None => Err(Refusal::Full),
        })
    }
}

impl Seats for SharedSeats {
    fn take(&self, request: SeatRequest) -> Taking<'_> {
        Box::pin(async move {
            self.try_take(&request)
                .await
                .map_err(|e| DirectoryError(e.to_string()))
        })
    }

    fn release(&self, seat: SeatId) -> Releasing<'_> {
        Box::pin(async move {
            let deleted = sqlx::query("DELETE FROM seats WHERE id = $1")
                .bind(seat)
                .execute(&self.store.pool)
                .await;
            if let Err(e) = deleted {
                warn!(seat, error = %e, "releasing a seat failed; trying again at the next renewal");
                self.unreleased.lock().expect("unreleased").push(seat);
            }
        })
    }
}
