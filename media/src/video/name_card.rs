//! Name cards: the picture of a participant who sends no video — its
//! name in white on a plain dark grey background, centred (see
//! [`super::text`]), at the size the room takes.

use std::collections::HashMap;
use std::sync::Arc;

use super::picture::{black, fill, Picture};
use super::text::{draw_text, TextBox};

/// The card's background (YUV): dark grey.
const BACKGROUND: [u8; 3] = [50, 128, 128];

/// `name`'s card, `width`×`height`: the name a tenth of the height, or
/// smaller if that would not fit 90 % of the width.
pub fn name_card(name: &str, width: u32, height: u32) -> Picture {
    let mut picture = black(width, height);
    fill(&mut picture, BACKGROUND);
    let area = TextBox {
        x: width / 20,
        y: 0,
        width: width * 9 / 10,
        height,
        centred: true,
    };
    draw_text(&mut picture, name, area, height as f32 / 10.0);
    picture
}

/// One participant's cards, by size.
type BySize = Vec<((u32, u32), Picture)>;

/// Name cards drawn, by meeting, participant and size.
#[derive(Default)]
pub struct Cards(HashMap<Arc<str>, HashMap<String, BySize>>);

impl Cards {
    /// `participant`'s card at `size`, drawn with `name` if it was not.
    pub fn draw(&mut self, meeting: &Arc<str>, participant: &str, name: &str, size: (u32, u32)) {
        if self.get(meeting, participant, size).is_some() {
            return;
        }
        let cards = self.0.entry(meeting.clone()).or_default();
        let cards = cards.entry(participant.to_owned()).or_default();
        cards.push((size, name_card(name, size.0, size.1)));
    }

    /// The card [`Cards::draw`] drew.
    pub fn get(&self, meeting: &str, participant: &str, size: (u32, u32)) -> Option<&Picture> {
        let cards = self.0.get(meeting)?.get(participant)?;
        cards.iter().find(|(s, _)| *s == size).map(|(_, p)| p)
    }

    /// Forgets `participant`'s cards (renamed, or gone).
    pub fn forget(&mut self, meeting: &str, participant: &str) {
        if let Some(cards) = self.0.get_mut(meeting) {
            cards.remove(participant);
            if cards.is_empty() {
                self.0.remove(meeting);
            }
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    /// The luma of the card's rows from `top` to `bottom`.
    fn rows(card: &Picture, top: usize, bottom: usize) -> Vec<u8> {
        let stride = card.stride(0);
        let width = card.width() as usize;
        (top..bottom)
            .flat_map(|row| card.data(0)[row * stride..row * stride + width].to_vec())
            .collect()
    }

    #[test]
    fn the_name_is_drawn_white_in_the_middle_of_a_plain_card() {
        ffmpeg_next::init().unwrap();
        let card = name_card("Board room", 640, 360);
        assert_eq!((card.width(), card.height()), (640, 360));
        let middle = rows(&card, 160, 200);
        let white = middle.iter().filter(|&&y| y > 200).count();
        assert!(white > 500, "{white} white pixels where the name is");
        assert!(rows(&card, 0, 100).iter().all(|&y| y == BACKGROUND[0]));
        assert!(rows(&card, 260, 360).iter().all(|&y| y == BACKGROUND[0]));
        assert_ne!(
            middle,
            rows(&name_card("Huddle", 640, 360), 160, 200),
            "another name, another card"
        );
    }

    #[test]
    fn a_long_name_is_shrunk_to_fit() {
        ffmpeg_next::init().unwrap();
        let card = name_card(&"Conference room W".repeat(4), 320, 180);
        let stride = card.stride(0);
        for row in 0..180 {
            let line = &card.data(0)[row * stride..row * stride + 320];
            assert!(line[..4]
                .iter()
                .chain(&line[316..])
                .all(|&y| y == BACKGROUND[0]));
        }
    }
}
