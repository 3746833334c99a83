"""The bundled tape's games and books as the tests name them (engine/data/wnba_demo_tape.jsonl.gz)."""

ATLANTA = "2977c51845a4f2621deca3d4a38a0ac2"  # Phoenix Mercury @ Atlanta Dream, tips 2026-08-05 23:00Z
WASHINGTON = "80bb6c471358f70e96b4571c4470ac0a"  # Dallas Wings @ Washington Mystics, tips 2026-08-05 23:35Z
NEW_YORK = "51369aa71fcd604bdf38a760b6bcc223"  # Seattle Storm @ New York Liberty, tipped 2026-08-03 23:05Z
#: Every book the tape quotes, by the feed's key.
BOOKS = (
    "fanduel",
    "draftkings",
    "williamhill_us",
    "betrivers",
    "fanatics",
    "lowvig",
    "betonlineag",
    "betmgm",
    "bovada",
    "betus",
    "mybookieag",
)
