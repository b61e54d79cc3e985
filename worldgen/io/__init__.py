"""Files: written whole or not at all, byte-exact encodings, mp4 video, flow files, strict
JSON reports and contact sheets."""
