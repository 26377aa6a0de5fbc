"""English sentences for the synthetic corpus: a small grammar over a built-in word list.

Sentences are plausible English of 3-15 words: statements in the past and present (with subject
verb agreement), progressives and negatives with contractions ("she's", "don't", "won't"),
questions, imperatives, possessives ("Zoe's jacket") and two clauses joined by and/but/so. The
word list (about 350 entries, 700 forms with plurals and verb forms) covers all 26 letters; q, x,
z and j words are over-represented so a few hundred sentences contain every letter. Text uses
only A-Z, a-z, the apostrophe, space and `, . ? !` (normalization happens later, in
harness.text.normalize).

Which words the stand-in may hear is fixed too: half of the content words (nouns, names,
adjectives, verbs, adverbs; a lemma with all its forms, chosen by the sha256 of the lemma) are
held back from the `standin` lexicon, so the stand-in checkpoint never hears or spells them and
fine-tuning has to teach them, as fine-tuning teaches a real pretrained encoder its words. Function
words (determiners, pronouns, prepositions, auxiliaries, times) are shared. The `full` lexicon,
used by the main corpus and every test split of it, has every word.

Which sentences may be trained on is a property of the sentence itself, not of a seed: the
sha256 of its normalized words puts it in one bucket, `test` (10%), `main` (45%) or `standin`
(45%). Test sets draw only from `test`, the main corpus trains only on `main` and the stand-in
corpus only on `standin`, so no test sentence of any corpus, whatever its seed, is ever trained
on, and the stand-in model never sees a sentence of the main corpus.

    >>> next(sentence_stream(0, "main/train", "main"))
    "A goat isn't dizzy to their cup."
"""

from __future__ import annotations

import hashlib
import random
import re
from collections.abc import Iterator
from dataclasses import dataclass

BUCKETS = ("test", "main", "standin")
# Out of 100 hash values: [0, 10) test, [10, 55) main, [55, 100) standin.
_BUCKET_EDGES = ((10, "test"), (55, "main"), (100, "standin"))
MIN_WORDS, MAX_WORDS = 3, 15
ALLOWED = re.compile(r"^[A-Za-z',.?! ]+$")
# A stream that finds nothing new in this many draws has run out of sentences (never happens at
# corpus sizes: the grammar has billions of sentences; 100 h of audio is ~100,000).
_MAX_MISSES = 10_000


def _words(text: str) -> tuple[str, ...]:
    return tuple(text.split())


# Singular and plural nouns, as "singular/plural".
NOUNS = [pair.split("/") for pair in _words(
    "dog/dogs cat/cats fox/foxes box/boxes bird/birds fish/fish horse/horses cow/cows "
    "zebra/zebras puppy/puppies rabbit/rabbits queen/queens king/kings child/children "
    "teacher/teachers doctor/doctors farmer/farmers driver/drivers neighbor/neighbors "
    "friend/friends sister/sisters brother/brothers baby/babies student/students "
    "judge/judges pilot/pilots house/houses garden/gardens kitchen/kitchens window/windows "
    "door/doors table/tables chair/chairs lamp/lamps clock/clocks book/books letter/letters "
    "picture/pictures jacket/jackets shoe/shoes hat/hats bag/bags key/keys phone/phones "
    "cup/cups bottle/bottles jar/jars basket/baskets bucket/buckets blanket/blankets "
    "pillow/pillows apple/apples orange/oranges lemon/lemons cake/cakes pie/pies "
    "sandwich/sandwiches potato/potatoes tomato/tomatoes egg/eggs cookie/cookies "
    "car/cars truck/trucks bus/buses taxi/taxis bicycle/bicycles boat/boats train/trains "
    "plane/planes road/roads bridge/bridges river/rivers lake/lakes hill/hills "
    "mountain/mountains forest/forests field/fields village/villages city/cities "
    "street/streets market/markets shop/shops school/schools office/offices "
    "question/questions answer/answers puzzle/puzzles prize/prizes quilt/quilts "
    "squirrel/squirrels wizard/wizards zoo/zoos fence/fences ladder/ladders "
    "hammer/hammers candle/candles mirror/mirrors engine/engines map/maps song/songs "
    "story/stories game/games gift/gifts party/parties idea/ideas plan/plans "
    "journey/journeys exam/exams note/notes coin/coins ring/rings violin/violins "
    "guitar/guitars drum/drums kite/kites ball/balls toy/toys boot/boots glove/gloves "
    "bowl/bowls spoon/spoons knife/knives wagon/wagons owl/owls wolf/wolves goat/goats"
)]
MASS_NOUNS = _words(
    "water milk juice bread cheese soup rice honey jelly coffee tea sugar butter sand snow "
    "music homework money paper wax yogurt pizza"
)
NAMES = _words(
    "Zoe Max Jack Quinn Alice Henry Grace Felix Ruby Oliver Hazel Victor Emma Jake Lucy Oscar "
    "Maya Leo Kate Yvonne Xavier Daisy Walter Fiona Ben Molly"
)
ADJECTIVES = _words(
    "big small tall short old new young quick slow quiet loud happy sad angry lazy busy "
    "brave clever gentle kind wise funny strange bright dark warm cold hot cool wet dry "
    "clean dirty heavy light empty full soft hard smooth rough sharp fresh sweet sour "
    "tiny huge lovely ugly red blue green yellow purple brown black white pink golden "
    "frozen fuzzy cozy dizzy jolly shiny noisy sleepy hungry thirsty extra"
)
# Transitive verbs: base, past, third person, -ing.
VERBS = [tuple(entry.split("/")) for entry in _words(
    "take/took/takes/taking make/made/makes/making find/found/finds/finding "
    "see/saw/sees/seeing bring/brought/brings/bringing buy/bought/buys/buying "
    "sell/sold/sells/selling carry/carried/carries/carrying push/pushed/pushes/pushing "
    "pull/pulled/pulls/pulling open/opened/opens/opening close/closed/closes/closing "
    "wash/washed/washes/washing fix/fixed/fixes/fixing mix/mixed/mixes/mixing "
    "paint/painted/paints/painting draw/drew/draws/drawing read/read/reads/reading "
    "write/wrote/writes/writing hold/held/holds/holding catch/caught/catches/catching "
    "throw/threw/throws/throwing kick/kicked/kicks/kicking lift/lifted/lifts/lifting "
    "drop/dropped/drops/dropping hide/hid/hides/hiding watch/watched/watches/watching "
    "follow/followed/follows/following visit/visited/visits/visiting "
    "enjoy/enjoyed/enjoys/enjoying squeeze/squeezed/squeezes/squeezing "
    "freeze/froze/freezes/freezing cook/cooked/cooks/cooking eat/ate/eats/eating "
    "drink/drank/drinks/drinking build/built/builds/building break/broke/breaks/breaking "
    "borrow/borrowed/borrows/borrowing check/checked/checks/checking "
    "move/moved/moves/moving cover/covered/covers/covering fill/filled/fills/filling "
    "need/needed/needs/needing want/wanted/wants/wanting love/loved/loves/loving "
    "hate/hated/hates/hating like/liked/likes/liking keep/kept/keeps/keeping "
    "leave/left/leaves/leaving send/sent/sends/sending share/shared/shares/sharing "
    "measure/measured/measures/measuring pack/packed/packs/packing "
    "explain/explained/explains/explaining question/questioned/questions/questioning "
    "judge/judged/judges/judging quote/quoted/quotes/quoting"
)]
# Intransitive verbs: base, past, third person, -ing.
INTRANSITIVE = [tuple(entry.split("/")) for entry in _words(
    "run/ran/runs/running jump/jumped/jumps/jumping sleep/slept/sleeps/sleeping "
    "laugh/laughed/laughs/laughing smile/smiled/smiles/smiling wait/waited/waits/waiting "
    "sing/sang/sings/singing dance/danced/dances/dancing swim/swam/swims/swimming "
    "walk/walked/walks/walking work/worked/works/working rest/rested/rests/resting "
    "shout/shouted/shouts/shouting relax/relaxed/relaxes/relaxing "
    "travel/traveled/travels/traveling arrive/arrived/arrives/arriving "
    "sit/sat/sits/sitting stay/stayed/stays/staying play/played/plays/playing "
    "cry/cried/cries/crying whisper/whispered/whispers/whispering "
    "sneeze/sneezed/sneezes/sneezing quit/quit/quits/quitting"
)]
ADVERBS = _words(
    "quickly slowly quietly loudly carefully happily sadly gently badly easily suddenly "
    "early late again together outside inside today yesterday tonight soon already"
)
TIMES = (
    "this morning", "last night", "on Monday", "on Friday", "at noon", "in the evening",
    "after lunch", "before dinner", "every day", "next week", "last year", "in June",
    "in October", "at six", "on the weekend",
)
PREPOSITIONS = _words("in on under near behind beside into across over from with by to")
SINGULAR_DETERMINERS = _words("the a my your his her our their this that every one")
PLURAL_DETERMINERS = _words("the my your our their these those some many few two three six")
# Subject pronoun -> (is the verb third person?, be form, contracted be).
PRONOUNS = {
    "I": (False, "am", "I'm"), "you": (False, "are", "you're"), "he": (True, "is", "he's"),
    "she": (True, "is", "she's"), "it": (True, "is", "it's"), "we": (False, "are", "we're"),
    "they": (False, "are", "they're"),
}
OBJECT_PRONOUNS = _words("me you him her it us them")
FUTURE_CONTRACTIONS = _words("I'll you'll he'll she'll we'll they'll")
MODAL_NEGATIVES = _words("can't won't couldn't wouldn't shouldn't didn't")


@dataclass(frozen=True)
class Lexicon:
    """The content words a grammar draws from; function words are the same in every lexicon."""

    name: str
    nouns: tuple[tuple[str, str], ...]
    mass_nouns: tuple[str, ...]
    names: tuple[str, ...]
    adjectives: tuple[str, ...]
    verbs: tuple[tuple[str, ...], ...]
    intransitive: tuple[tuple[str, ...], ...]
    adverbs: tuple[str, ...]

    def forms(self) -> set[str]:
        """Every lower-cased word form this lexicon can put in a sentence."""
        words = {*self.mass_nouns, *self.names, *self.adjectives, *self.adverbs}
        for entry in (*self.nouns, *self.verbs, *self.intransitive):
            words.update(entry)
        return {word.lower() for word in words}


# Out of 100 hash values of a lemma, those below this are held back from the stand-in.
HELD_BACK_PERCENT = 50


def held_back_from_standin(lemma: str) -> bool:
    """Whether the stand-in lexicon leaves out `lemma` (a noun's singular, a verb's base form)."""
    digest = hashlib.sha256(f"harness-lexicon/{lemma.lower()}".encode()).digest()
    return int.from_bytes(digest[:8], "big") % 100 < HELD_BACK_PERCENT


def _lexicon(name: str, keep) -> Lexicon:
    """The word lists filtered by `keep(lemma)`, in their original order."""
    def words(entries):
        return tuple(word for word in entries if keep(word))

    def entries(rows):
        return tuple(tuple(row) for row in rows if keep(row[0]))

    return Lexicon(name, nouns=entries(NOUNS), mass_nouns=words(MASS_NOUNS), names=words(NAMES),
                   adjectives=words(ADJECTIVES), verbs=entries(VERBS),
                   intransitive=entries(INTRANSITIVE), adverbs=words(ADVERBS))


# `full` keeps every list whole and in order, so its sentences are the same draws as before
# lexicons existed; `standin` is what the stand-in checkpoint is trained and tested on.
LEXICONS = {
    "full": _lexicon("full", lambda lemma: True),
    "standin": _lexicon("standin", lambda lemma: not held_back_from_standin(lemma)),
}


class _Grammar:
    """One random draw of each phrase type; `sentence()` picks a sentence pattern."""

    def __init__(self, rng: random.Random, lexicon: Lexicon = LEXICONS["full"]):
        self.rng = rng
        self.words = lexicon

    def pick(self, options):
        return self.rng.choice(options)

    def chance(self, probability: float) -> bool:
        return self.rng.random() < probability

    def noun_phrase(self) -> tuple[str, bool]:
        """A noun phrase and whether it is third person singular."""
        roll = self.rng.random()
        if roll < 0.12:
            return self.pick(self.words.names), True
        if roll < 0.22:
            owner = self.pick(self.words.names)
            return f"{owner}'s {self._adjective_prefix()}{self.pick(self.words.nouns)[0]}", True
        if roll < 0.62:
            noun = self.pick(self.words.nouns)[0]
            return f"{self.pick(SINGULAR_DETERMINERS)} {self._adjective_prefix()}{noun}", True
        if roll < 0.9:
            noun = self.pick(self.words.nouns)[1]
            return f"{self.pick(PLURAL_DETERMINERS)} {self._adjective_prefix()}{noun}", False
        return f"some {self.pick(self.words.mass_nouns)}", True

    def object_phrase(self) -> str:
        if self.chance(0.15):
            return self.pick(OBJECT_PRONOUNS)
        return self.noun_phrase()[0]

    def _adjective_prefix(self) -> str:
        return f"{self.pick(self.words.adjectives)} " if self.chance(0.4) else ""

    def subject(self) -> tuple[str, bool, str, str]:
        """Subject text, third person singular?, its be form, contracted subject + be."""
        if self.chance(0.45):
            pronoun = self.pick(list(PRONOUNS))
            third, be, contracted = PRONOUNS[pronoun]
            return pronoun, third, be, contracted
        phrase, third = self.noun_phrase()
        be = "is" if third else "are"
        return phrase, third, be, f"{phrase} {be}"

    def tail(self) -> str:
        """Optional place and time: "" or " under the table" or " on Monday", etc."""
        parts = []
        if self.chance(0.45):
            parts.append(f"{self.pick(PREPOSITIONS)} {self.noun_phrase()[0]}")
        if self.chance(0.3):
            parts.append(self.pick(TIMES) if self.chance(0.6) else self.pick(self.words.adverbs))
        return "".join(f" {part}" for part in parts)

    def predicate(self, form: int) -> str:
        """A verb phrase with the verb in `form` (0 base, 1 past, 2 third, 3 -ing)."""
        if self.chance(0.7):
            return f"{self.pick(self.words.verbs)[form]} {self.object_phrase()}{self.tail()}"
        return f"{self.pick(self.words.intransitive)[form]}{self.tail()}"

    def clause(self) -> str:
        """A statement without its final punctuation."""
        subject, third, be, contracted = self.subject()
        kind = self.rng.random()
        if kind < 0.3:
            return f"{subject} {self.predicate(1)}"
        if kind < 0.45:
            return f"{subject} {self.predicate(2 if third else 0)}"
        if kind < 0.6:
            return f"{contracted} {self.predicate(3)}"
        if kind < 0.75:
            negative = ("doesn't" if third else "don't") if self.chance(0.5) else \
                self.pick(MODAL_NEGATIVES)
            return f"{subject} {negative} {self.predicate(0)}"
        if kind < 0.85:
            return f"{self.pick(FUTURE_CONTRACTIONS)} {self.predicate(0)}"
        adjective = self.pick(self.words.adjectives)
        if self.chance(0.4):
            return f"{contracted} {adjective}{self.tail()}"
        negated = {"am": "wasn't", "is": "isn't", "are": "weren't"}[be]
        return f"{subject} {negated if self.chance(0.5) else be} {adjective}{self.tail()}"

    def sentence(self) -> str:
        kind = self.rng.random()
        if kind < 0.55:
            text = self.clause() + self.pick([".", ".", ".", "!"])
        elif kind < 0.7:
            text = f"{self.clause()}, {self.pick(['and', 'but', 'so'])} {self.clause()}."
        elif kind < 0.85:
            text = self.question()
        else:
            text = self.imperative()
        return text[0].upper() + text[1:]

    def question(self) -> str:
        subject, third, be, _ = self.subject()
        kind = self.rng.random()
        if kind < 0.35:
            return f"{'Does' if third else 'Do'} {subject} {self.predicate(0)}?"
        if kind < 0.6:
            asking = self.pick(["Why", "Where", "When", "How"])
            return f"{asking} did {subject} {self.predicate(0)}?"
        if kind < 0.8:
            modal = self.pick(["Can", "Could", "Would", "Should"])
            return f"{modal} {subject} {self.predicate(0)}?"
        return f"{self.pick(['Where', 'Why'])} {be} {subject} {self.predicate(3)}?"

    def imperative(self) -> str:
        kind = self.rng.random()
        if kind < 0.4:
            return f"Please {self.predicate(0)}."
        if kind < 0.7:
            return f"Don't {self.predicate(0)}!"
        return f"Let's {self.predicate(0)}{self.pick(['.', '!'])}"


def normalized_words(text: str) -> str:
    """The words of a sentence for comparison: `"It's cold!"` -> `"it's cold"`."""
    return " ".join(re.sub(r"[^a-z' ]", " ", text.lower()).split())


def sentence_bucket(text: str) -> str:
    """`test`, `main` or `standin`: a fixed property of the sentence's normalized words."""
    digest = hashlib.sha256(normalized_words(text).encode("utf-8")).digest()
    value = int.from_bytes(digest[:8], "big") % 100
    return next(name for edge, name in _BUCKET_EDGES if value < edge)


def random_sentence(rng: random.Random, lexicon: str = "full") -> str:
    """One sentence of MIN_WORDS..MAX_WORDS words drawn with `rng` from `lexicon`'s words."""
    grammar = _Grammar(rng, LEXICONS[lexicon])
    while True:
        text = grammar.sentence()
        if MIN_WORDS <= len(text.split()) <= MAX_WORDS:
            return text


def sentence_stream(seed: int, stream: str, bucket: str, lexicon: str = "full") -> Iterator[str]:
    """Distinct sentences of one bucket and lexicon, in a fixed order for (seed, stream).

    Distinct by normalized words, so "Run!" and "Run." count once. `stream` names an
    independent sequence: the corpus uses "<pool>/train" and "<pool>/test".
    """
    if bucket not in BUCKETS:
        raise ValueError(f"unknown sentence bucket {bucket!r}; expected one of {BUCKETS}")
    if lexicon not in LEXICONS:
        raise ValueError(f"unknown lexicon {lexicon!r}; expected one of {sorted(LEXICONS)}")
    # A str seed is hashed with sha512 by random.seed: stable across runs and PYTHONHASHSEED.
    rng = random.Random(f"harness-sentences/{seed}/{stream}")
    seen: set[str] = set()
    misses = 0
    while True:
        text = random_sentence(rng, lexicon)
        key = normalized_words(text)
        if key in seen or sentence_bucket(text) != bucket:
            misses += 1
            if misses > _MAX_MISSES:
                raise RuntimeError(f"sentence stream {stream!r} ran out of new sentences")
            continue
        misses = 0
        seen.add(key)
        yield text
