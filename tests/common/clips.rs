//! Solid-colour camera clips made with FFmpeg, and telling a decoded
//! pixel's colour after coding.

use std::path::{Path, PathBuf};

use super::tools;

/// A solid `colour` clip for a camera: `file` is `room.mp4` (MPEG-4, for
/// baresip's avformat source, looped) or `camera.y4m` (raw frames, for
/// Chromium's fake camera).
pub fn clip(dir: &Path, colour: &str, file: &str) -> PathBuf {
    clip_sized(dir, colour, file, "640x360")
}

/// As [`clip`], `size` (`352x288`) pictures: baresip encodes its camera
/// at the clip's size, and H.263 takes only its own formats.
pub fn clip_sized(dir: &Path, colour: &str, file: &str, size: &str) -> PathBuf {
    let path = dir.join(file);
    // Ten seconds of MPEG-4 (a few kB); a second of raw frames (10 MB);
    // one JPEG picture (a still camera).
    let mp4 = file.ends_with(".mp4");
    let still = file.ends_with(".jpg");
    let frames = match (mp4, still) {
        (true, _) => "300",
        (_, true) => "1",
        _ => "30",
    };
    let status = tools::command("ffmpeg")
        .args(["-loglevel", "error", "-y", "-f", "lavfi", "-i"])
        .arg(format!("color=c={colour}:s={size}:r=30"))
        .args(["-frames:v", frames])
        .args(if still {
            &[][..]
        } else {
            &["-pix_fmt", "yuv420p"][..]
        })
        .args(if mp4 {
            &["-c:v", "mpeg4", "-q:v", "2"][..]
        } else {
            &[][..]
        })
        .arg(&path)
        .status()
        .expect("ffmpeg (package ffmpeg) must be installed");
    assert!(status.success(), "ffmpeg made no {file}");
    path
}

/// Whether `rgb` is `colour`'s (red, green or blue) after coding: that
/// channel well above the others.
pub fn looks(rgb: [u8; 3], colour: usize) -> bool {
    let others = (0..3).filter(|&c| c != colour).map(|c| rgb[c]);
    rgb[colour] > 150 && others.into_iter().all(|v| v < 90)
}

pub const RED: usize = 0;
pub const GREEN: usize = 1;
pub const BLUE: usize = 2;
