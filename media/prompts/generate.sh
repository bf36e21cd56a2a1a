#!/usr/bin/env bash
# Regenerates the IVR prompts: espeak-ng speaks each text, sox turns it into
# headerless 8 kHz mono G.711 µ-law (.ul), which media/src/prompts.rs embeds.
# Needs the Debian packages espeak-ng and sox. Run from any directory.
set -euo pipefail
cd "$(dirname "$0")"
say() {
  espeak-ng -v en-us -s 150 -w /tmp/mra-prompt.wav "$2"
  sox /tmp/mra-prompt.wav -r 8000 -c 1 -t ul "$1.ul" norm -3 pad 0.1 0.2
}
say welcome "Welcome to the meeting room connector."
say enter_number "Please enter the meeting number, followed by the pound key."
say enter_password "Please enter the meeting password, followed by the pound key."
say unknown_meeting "That meeting number was not found."
say wrong_password "That password is not correct."
say no_input "Sorry, we did not receive any input."
say locked "This meeting is locked."
say full "This meeting is full."
say joining "Thank you. You are joining the meeting now."
say goodbye "Goodbye."
rm -f /tmp/mra-prompt.wav
