//! Continuous-presence layouts: the ones rooms' users know from Pexip,
//! Cisco and Polycom — speaker only, 1+5, 1+7, 1+21, 2+21 and the equal
//! grids 2×2 to 5×5 — and `automatic`, which picks among them by how many
//! others a viewer could see, as Polycom's auto layout and Cisco's
//! `automatic` do. Each layout's tiles are given big ones first, in
//! 840ths of the picture (840 is divisible by every grid size used), so
//! every tile of a 16:9 picture is 16:9 and nothing is stretched; the
//! compositor turns them into pixels.

use std::fmt;
use std::ops::RangeInclusive;

use serde::{Deserialize, Serialize};

/// A layout as configured or chosen.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
pub enum Layout {
    /// Picks one of the others by how many participants there are to see.
    Automatic,
    /// The speaker full screen (Pexip 1:0, Cisco speakerOnly).
    Speaker,
    /// The speaker in four ninths, five others around (Cisco onePlusFive).
    OnePlus5,
    /// The speaker in nine sixteenths, seven others around (Pexip 1:7).
    OnePlus7,
    /// The speaker on top, 21 others in three rows of seven (Pexip 1:21).
    OnePlus21,
    /// Two speakers side by side on top, 21 others below (Pexip 2:21).
    TwoPlus21,
    /// Equal tiles, 2×2 to 5×5 (Pexip 4:0 … 25:0, Cisco allEqual).
    Grid(u8),
}

/// A tile, in 840ths of the picture's width and height.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Tile {
    pub x: u32,
    pub y: u32,
    pub width: u32,
    pub height: u32,
}

/// The unit tiles are given in.
pub const UNIT: u32 = 840;

/// Every layout but automatic, in the order `*8` steps through them
/// (Pexip's order, 1+5 after speaker only).
pub const CYCLE: [Layout; 10] = [
    Layout::OnePlus7,
    Layout::Automatic,
    Layout::OnePlus21,
    Layout::TwoPlus21,
    Layout::Grid(2),
    Layout::Grid(3),
    Layout::Grid(4),
    Layout::Grid(5),
    Layout::Speaker,
    Layout::OnePlus5,
];

/// Names each layout is known by (the first is ours), lower case.
const NAMES: [(Layout, &[&str]); 10] = [
    (Layout::Automatic, &["automatic", "auto", "ac"]),
    (Layout::Speaker, &["speaker", "1:0", "1+0", "speakeronly"]),
    (Layout::OnePlus5, &["1+5", "1:5", "oneplusfive"]),
    (Layout::OnePlus7, &["1+7", "1:7", "oneplusseven"]),
    (Layout::OnePlus21, &["1+21", "1:21"]),
    (Layout::TwoPlus21, &["2+21", "2:21"]),
    (Layout::Grid(2), &["2x2", "4:0"]),
    (Layout::Grid(3), &["3x3", "9:0"]),
    (Layout::Grid(4), &["4x4", "16:0"]),
    (Layout::Grid(5), &["5x5", "25:0"]),
];

/// Layouts by how many tiles they have, for keypads (a dial string's
/// layout field): `0` is automatic.
const BY_TILES: [(&str, Layout); 10] = [
    ("0", Layout::Automatic),
    ("1", Layout::Speaker),
    ("4", Layout::Grid(2)),
    ("6", Layout::OnePlus5),
    ("8", Layout::OnePlus7),
    ("9", Layout::Grid(3)),
    ("16", Layout::Grid(4)),
    ("22", Layout::OnePlus21),
    ("23", Layout::TwoPlus21),
    ("25", Layout::Grid(5)),
];

impl Layout {
    /// The layout called `name` (ours, Pexip's or Cisco's; any case), or
    /// numbered by its tiles (`8` is 1+7, `0` automatic).
    pub fn from_name(name: &str) -> Option<Layout> {
        let name = name.trim().to_ascii_lowercase();
        NAMES
            .iter()
            .find(|(_, names)| names.contains(&name.as_str()))
            .map(|(layout, _)| *layout)
            .or_else(|| BY_TILES.iter().find(|(n, _)| *n == name).map(|(_, l)| *l))
    }

    /// Its name as the API and `/api/v1/calls` show it.
    pub fn name(self) -> &'static str {
        NAMES
            .iter()
            .find(|(layout, _)| *layout == self)
            .map_or("automatic", |(_, names)| names[0])
    }

    /// The layout `*8` goes to from this one.
    pub fn next(self) -> Layout {
        let at = CYCLE.iter().position(|&l| l == self).unwrap_or(0);
        CYCLE[(at + 1) % CYCLE.len()]
    }

    /// What automatic shows a viewer who could see `others` participants
    /// (never itself).
    pub fn automatic(others: usize) -> Layout {
        match others {
            0 | 1 => Layout::Speaker,
            2..=4 => Layout::Grid(2),
            5 | 6 => Layout::OnePlus5,
            7 | 8 => Layout::OnePlus7,
            9 => Layout::Grid(3),
            10..=16 => Layout::Grid(4),
            17..=22 => Layout::OnePlus21,
            _ => Layout::Grid(5),
        }
    }

    /// This layout for a viewer who could see `others`: itself, or
    /// automatic's choice.
    pub fn resolve(self, others: usize) -> Layout {
        match self {
            Layout::Automatic => Layout::automatic(others),
            fixed => fixed,
        }
    }

    /// How many of its tiles are big (the speakers').
    pub fn big_tiles(self) -> usize {
        match self {
            Layout::TwoPlus21 => 2,
            Layout::Grid(_) => 0,
            _ => 1,
        }
    }

    /// Its tiles, big ones first, then the small ones row by row; empty
    /// for automatic (resolve it first).
    pub fn tiles(self) -> Vec<Tile> {
        let tile = |x, y, size| Tile {
            x,
            y,
            width: size,
            height: size,
        };
        match self {
            Layout::Automatic => Vec::new(),
            Layout::Speaker => vec![tile(0, 0, UNIT)],
            Layout::Grid(n) => {
                let n = u32::from(n);
                let cell = UNIT / n;
                (0..n * n)
                    .map(|i| tile(i % n * cell, i / n * cell, cell))
                    .collect()
            }
            Layout::OnePlus5 => one_plus(3),
            Layout::OnePlus7 => one_plus(4),
            Layout::OnePlus21 => {
                let mut tiles = vec![tile(180, 0, 480)];
                tiles.extend(bottom_rows());
                tiles
            }
            Layout::TwoPlus21 => {
                let mut tiles = vec![tile(0, 30, 420), tile(420, 30, 420)];
                tiles.extend(bottom_rows());
                tiles
            }
        }
    }
}

/// One big tile of (n−1)×(n−1) cells of an n×n grid in the top left
/// corner, the small cells of the right column and the bottom row.
fn one_plus(n: u32) -> Vec<Tile> {
    let cell = UNIT / n;
    let big = Tile {
        x: 0,
        y: 0,
        width: cell * (n - 1),
        height: cell * (n - 1),
    };
    let small = |x, y| Tile {
        x,
        y,
        width: cell,
        height: cell,
    };
    let right = (0..n - 1).map(|row| small(cell * (n - 1), cell * row));
    let bottom = (0..n).map(|column| small(cell * column, cell * (n - 1)));
    std::iter::once(big).chain(right).chain(bottom).collect()
}

/// Three rows of seven small tiles at the bottom (1+21, 2+21).
fn bottom_rows() -> impl Iterator<Item = Tile> {
    let cell = UNIT / 7;
    (0..21).map(move |i| Tile {
        x: i % 7 * cell,
        y: UNIT - 3 * cell + i / 7 * cell,
        width: cell,
        height: cell,
    })
}

/// How often polling may rotate the small tiles, in seconds.
pub const POLLING_SECONDS: RangeInclusive<u16> = 5..=300;

/// A meeting's own layout settings.
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq, Serialize, Deserialize)]
pub struct MeetingLayout {
    /// Its layout (None: the installation's).
    #[serde(default)]
    pub layout: Option<Layout>,
    /// Polling: the small tiles show, in turn, those who do not fit, this
    /// often (None: off).
    #[serde(default)]
    pub polling_seconds: Option<u16>,
}

impl MeetingLayout {
    /// Refuses a polling period outside [`POLLING_SECONDS`].
    pub fn check(&self) -> Result<(), String> {
        match self.polling_seconds {
            Some(s) if !POLLING_SECONDS.contains(&s) => Err(format!(
                "polling_seconds must be {} to {}, got {s}",
                POLLING_SECONDS.start(),
                POLLING_SECONDS.end()
            )),
            _ => Ok(()),
        }
    }
}

/// What a room's own layout becomes.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize)]
pub enum LayoutChange {
    /// This one (None: its meeting's again).
    Set(Option<Layout>),
    /// The next of [`CYCLE`] after the one in force (`*8`).
    Next,
}

impl fmt::Display for Layout {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(self.name())
    }
}

impl serde::Serialize for Layout {
    fn serialize<S: serde::Serializer>(&self, s: S) -> Result<S::Ok, S::Error> {
        s.serialize_str(self.name())
    }
}

impl<'de> serde::Deserialize<'de> for Layout {
    fn deserialize<D: serde::Deserializer<'de>>(d: D) -> Result<Layout, D::Error> {
        let name = String::deserialize(d)?;
        Layout::from_name(&name).ok_or_else(|| {
            serde::de::Error::custom(format!(
                "unknown layout {name:?}: one of {}",
                NAMES.map(|(l, _)| l.name()).join(", ")
            ))
        })
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn overlaps(a: &Tile, b: &Tile) -> bool {
        a.x < b.x + b.width && b.x < a.x + a.width && a.y < b.y + b.height && b.y < a.y + a.height
    }

    #[test]
    fn every_layout_has_its_tiles_inside_the_picture_and_none_overlap() {
        for layout in CYCLE.into_iter().filter(|&l| l != Layout::Automatic) {
            let tiles = layout.tiles();
            let expected = match layout {
                Layout::Speaker => 1,
                Layout::OnePlus5 => 6,
                Layout::OnePlus7 => 8,
                Layout::OnePlus21 => 22,
                Layout::TwoPlus21 => 23,
                Layout::Grid(n) => usize::from(n * n),
                Layout::Automatic => unreachable!(),
            };
            assert_eq!(tiles.len(), expected, "{layout}");
            for (i, a) in tiles.iter().enumerate() {
                assert!(
                    a.x + a.width <= UNIT && a.y + a.height <= UNIT,
                    "{layout} {a:?}"
                );
                assert_eq!(a.width, a.height, "{layout}: the picture's aspect ratio");
                for b in &tiles[i + 1..] {
                    assert!(!overlaps(a, b), "{layout}: {a:?} and {b:?}");
                }
            }
            let big = &tiles[..layout.big_tiles()];
            let small = &tiles[layout.big_tiles()..];
            for (b, s) in big.iter().flat_map(|b| small.iter().map(move |s| (b, s))) {
                assert!(b.width > s.width, "{layout}: big tiles first");
            }
        }
    }

    #[test]
    fn names_of_pexip_and_cisco_are_understood_and_ours_round_trip() {
        assert_eq!(Layout::from_name("1:7"), Some(Layout::OnePlus7));
        assert_eq!(Layout::from_name("onePlusFive"), Some(Layout::OnePlus5));
        assert_eq!(Layout::from_name(" AC "), Some(Layout::Automatic));
        assert_eq!(Layout::from_name("4:0"), Some(Layout::Grid(2)));
        assert_eq!(Layout::from_name("6x6"), None);
        assert_eq!(Layout::from_name("8"), Some(Layout::OnePlus7), "by tiles");
        assert_eq!(Layout::from_name("0"), Some(Layout::Automatic));
        for (_, layout) in BY_TILES.into_iter().skip(1) {
            let tiles = layout.tiles().len().to_string();
            assert_eq!(Layout::from_name(&tiles), Some(layout));
        }
        for (layout, _) in NAMES {
            assert_eq!(Layout::from_name(layout.name()), Some(layout));
            let json = serde_json::to_string(&layout).unwrap();
            assert_eq!(serde_json::from_str::<Layout>(&json).unwrap(), layout);
        }
        let refused = serde_json::from_str::<Layout>("\"9x9\"").unwrap_err();
        assert!(refused.to_string().contains("one of automatic, speaker"));
    }

    #[test]
    fn a_meetings_polling_period_is_5_to_300_seconds() {
        let polling = |s| MeetingLayout {
            layout: None,
            polling_seconds: Some(s),
        };
        assert!(polling(5).check().is_ok() && polling(300).check().is_ok());
        assert!(polling(4).check().unwrap_err().contains("5 to 300"));
        assert!(polling(301).check().is_err());
        let json: MeetingLayout = serde_json::from_str(r#"{"layout": "1:7"}"#).unwrap();
        assert_eq!(json.layout, Some(Layout::OnePlus7));
        assert_eq!(json.polling_seconds, None);
    }

    #[test]
    fn star_8_cycles_through_every_layout() {
        let mut seen = vec![Layout::OnePlus7];
        while seen.len() <= CYCLE.len() {
            seen.push(seen.last().unwrap().next());
        }
        assert_eq!(seen[CYCLE.len()], Layout::OnePlus7, "back to the start");
        assert_eq!(seen[..CYCLE.len()], CYCLE);
    }

    #[test]
    fn automatic_grows_with_the_others_to_see() {
        let picks: Vec<(usize, usize)> = [1, 2, 4, 5, 7, 9, 12, 20, 30]
            .into_iter()
            .map(|n| (n, Layout::automatic(n).tiles().len()))
            .collect();
        for &(others, tiles) in &picks {
            assert!(tiles >= others.min(25), "{others} others in {tiles} tiles");
        }
        assert_eq!(Layout::Automatic.resolve(1), Layout::Speaker);
        assert_eq!(Layout::OnePlus7.resolve(1), Layout::OnePlus7);
    }
}
