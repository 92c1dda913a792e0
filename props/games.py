"""Games for rooms and calls: dice and card decks, drawn with a secure random source.

Pure: no I/O. The server draws once and sends the same result to every member, so a
client can neither choose nor predict it; `secrets` keeps it unpredictable even to
someone who has seen many draws. Tests inject their own `randbelow`.
"""

from __future__ import annotations

import secrets
from collections.abc import Callable, Mapping
from dataclasses import dataclass
from types import MappingProxyType

DICE_MIN = 1
DICE_MAX = 5
DIE_FACES = 6

RandBelow = Callable[[int], int]
"""`randbelow(n)`: a uniform integer in [0, n), as `secrets.randbelow`."""

# Dares are done by voice in the room or call itself: nothing that needs leaving the
# seat, spending money, or anyone outside the room.
TRUTH: tuple[str, ...] = (
    "What is a small thing that always makes your day better?",
    "What was your favourite cartoon as a child?",
    "What is the most useless talent you have?",
    "What song do you secretly know every word of?",
    "What is the best meal you have ever had?",
    "What is a habit you are trying to build right now?",
    "Who was your favourite teacher, and why?",
    "What is the last thing that made you laugh out loud?",
    "What would you do with a free day and no plans?",
    "What is a movie you can watch again and again?",
    "What did you want to be when you grew up?",
    "What is the nicest thing a stranger has done for you?",
    "Which app do you open first in the morning?",
    "What is a food you could never give up?",
    "What is the strangest dream you remember?",
    "What is something you are proud of from this year?",
    "If you could live in any city for a year, which would it be?",
    "What is the worst haircut you have ever had?",
    "What is a skill you wish you had learned earlier?",
    "Which fictional character do you relate to most?",
    "What is the most embarrassing thing in your music playlist?",
    "What is a fear you have got over?",
    "What is the best advice anyone has given you?",
    "What do your friends tease you about most?",
    "What is the last book or article that changed your mind?",
    "What is your go-to karaoke song?",
    "What is a small luxury you treat yourself to?",
    "Which season do you like best, and why?",
    "What is something you have never told anyone in this room?",
    "What was the best gift you ever received?",
    "What is one thing on your bucket list?",
    "What chore do you actually enjoy?",
)

DARE: tuple[str, ...] = (
    "Sing the chorus of the last song you listened to.",
    "Talk like a news anchor for your next three sentences.",
    "Do your best impression of a famous cartoon character.",
    "Say a tongue twister three times, fast.",
    "Tell a joke, and keep a straight face until everyone reacts.",
    "Describe your day as if it were a movie trailer.",
    "Speak only in questions until your next turn.",
    "Make the sound of your favourite animal.",
    "Invent a short jingle for the room's name and sing it.",
    "Read the last message you sent, in a dramatic voice.",
    "Give a thirty-second speech on why socks matter.",
    "Say the alphabet backwards as far as you can.",
    "Compliment every person in the room, one sentence each.",
    "Narrate what you see around you like a nature documentary.",
    "Hum a song and let the others guess it.",
    "Say something nice about yourself, and mean it.",
    "Do your best robot voice for one minute.",
    "Tell the room a fun fact you know by heart.",
    "Pretend to be a tour guide for your room at home.",
    "Make up a short poem about the person who spoke before you.",
    "Laugh for ten seconds without stopping.",
    "Whisper your next answer as if it were a secret.",
    "Sing 'Happy Birthday' in the style of an opera singer.",
    "Count to twenty in a language you are learning.",
    "Describe your breakfast as if it were a gourmet dish.",
    "Do a weather forecast for your mood today.",
    "Speak with a pirate accent until your next turn.",
    "Recite the first lines of a poem or song you learned at school.",
    "Give the person after you a new nickname, and explain it.",
    "Do a slow-motion play-by-play of getting out of bed.",
    "Try to make someone in the room laugh within thirty seconds.",
    "Announce the next player as if they were a boxing champion.",
)

ICEBREAKER: tuple[str, ...] = (
    "Where in the world are you right now, and what is the weather like?",
    "What are you listening to these days?",
    "What is a hobby you could talk about for hours?",
    "Coffee, tea, or neither?",
    "What is the best thing that happened to you this week?",
    "If you could learn any language overnight, which would it be?",
    "What is a place you would love to visit one day?",
    "Are you a morning person or a night owl?",
    "What is your favourite way to spend a rainy afternoon?",
    "Cats, dogs, or something else entirely?",
    "What is a show you would recommend to everyone here?",
    "What is the last thing you cooked?",
    "What is your favourite local dish where you live?",
    "Which superpower would you pick, and what would you do first?",
    "What is a game you loved as a kid?",
    "Beach holiday or mountain holiday?",
    "What is something new you tried recently?",
    "What is your favourite sound?",
    "If you could have dinner with anyone, living or not, who would it be?",
    "What is a small goal you have for this month?",
    "What is the most beautiful place you have been to?",
    "What kind of music do you put on to get things done?",
    "What is your favourite festival or holiday, and why?",
    "What is a word or phrase you say all the time?",
    "If you could master one instrument, which would it be?",
    "What is your favourite snack right now?",
    "What makes you feel at home?",
    "What is a hidden gem in your city?",
    "What did you learn recently that surprised you?",
    "Sunrise or sunset?",
    "What is the best concert or show you have been to?",
    "What would your perfect weekend look like?",
)

DECKS: Mapping[str, tuple[str, ...]] = MappingProxyType(
    {"truth": TRUTH, "dare": DARE, "icebreaker": ICEBREAKER}
)


@dataclass(frozen=True, slots=True)
class Card:
    deck: str
    text: str

    def to_wire(self) -> dict[str, str]:
        return {"deck": self.deck, "text": self.text}


def roll_dice(count: int = 1, randbelow: RandBelow = secrets.randbelow) -> list[int]:
    """`count` dice (1 to 5), each 1 to 6. ValueError naming `count` otherwise."""
    if isinstance(count, bool) or not isinstance(count, int):
        raise ValueError("count must be an integer from 1 to 5")
    if not DICE_MIN <= count <= DICE_MAX:
        raise ValueError(f"count must be from {DICE_MIN} to {DICE_MAX}")
    return [_below(randbelow, DIE_FACES) + 1 for _ in range(count)]


def draw_card(deck: str, randbelow: RandBelow = secrets.randbelow) -> Card:
    """One card from `deck` (`truth`, `dare`, `icebreaker`). ValueError naming `deck`
    for any other name. Draws are independent: a card can come up again."""
    cards = DECKS.get(deck) if isinstance(deck, str) else None
    if cards is None:
        raise ValueError(f"deck must be one of {', '.join(DECKS)}")
    return Card(deck, cards[_below(randbelow, len(cards))])


def _below(randbelow: RandBelow, n: int) -> int:
    value = randbelow(n)
    # An injected source that misbehaves must not index outside the deck.
    if not 0 <= value < n:
        raise ValueError(f"random source gave {value}, outside [0, {n})")
    return value
