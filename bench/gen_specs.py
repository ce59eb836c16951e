"""Generate a Mardonar repository full of encounter specs, for benchmarking `mardonar lint`.

    python bench/gen_specs.py --out bench/out/lint-repo --valid 1000 --broken 100 --seed 7

writes OUT/persona.yaml, OUT/party.yaml, OUT/lore/*.md (10 files), OUT/specs/*.yaml and
OUT/bench-manifest.json (what was generated; the broken specs' mistakes and the lint codes
each should produce). OUT/specs/ is emptied first; nothing outside OUT is touched.

Valid specs are realistic, vary from ~40 to ~250 lines (median ~100) and lint with zero
findings, warnings included: every outcome is reachable (keywords or a check's leads_to),
every check has keywords, every NPC with secrets has a check, skills come from the persona,
ids are unique, lore refs exist, the prompt fits the default 2,500-token budget and the file
is named after the id. Broken specs each carry 1-3 different mistakes an author really makes
(tabs, a `: ` in plain text, duplicate keys, typos in keys and references, bad DCs, missing
fields...). Output depends only on --seed: the valid specs are the same whatever --broken is.

Only the standard library is needed. When `mardonar` is importable the prompt-size check uses
its own renderer (exactly what lint estimates); otherwise a conservative approximation.
"""

from __future__ import annotations

import argparse
import json
import math
import random
import re
import shutil
import statistics
import sys
import textwrap
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from mardonar.content.lint.runner import DEFAULT_PROMPT_BUDGET as PROMPT_BUDGET
from mardonar.content.models import DEFAULT_SKILLS as SKILLS

BUDGET_MARGIN = 120  # tokens kept free below the budget, so small renderer changes stay green

# --------------------------------------------------------------------------- vocabulary

PLACES = [
    ("bridge", "wilderness"),
    ("mill", "village"),
    ("lighthouse", "coast"),
    ("crypt", "dungeon"),
    ("market", "city"),
    ("ferry", "river"),
    ("mine", "underground"),
    ("tavern", "city"),
    ("shrine", "wilderness"),
    ("watchtower", "frontier"),
    ("manor", "intrigue"),
    ("caravan", "road"),
    ("monastery", "mountain"),
    ("harbour", "coast"),
    ("library", "city"),
    ("toll-gate", "road"),
    ("orchard", "village"),
    ("quarry", "wilderness"),
    ("bathhouse", "city"),
    ("granary", "village"),
    ("observatory", "mountain"),
    ("smithy", "village"),
    ("chapel", "village"),
    ("barrow", "dungeon"),
    ("fishery", "coast"),
    ("customs-house", "city"),
    ("inn", "road"),
    ("well", "village"),
    ("vineyard", "countryside"),
    ("prison", "city"),
]
ADJECTIVES = [
    "drowned",
    "silent",
    "crooked",
    "hollow",
    "burning",
    "forgotten",
    "salt-stained",
    "haunted",
    "sunken",
    "broken",
    "gilded",
    "weeping",
    "frozen",
    "smoky",
    "lantern-lit",
    "rotten",
    "whispering",
    "iron",
    "crimson",
    "moss-grown",
    "leaning",
    "last",
    "bitter",
    "lonely",
]
PLACE_NAMES = [
    "Harrowdeep",
    "Port Varrow",
    "Mossback Gorge",
    "Gullrock",
    "Saltmere",
    "Thornwick",
    "Duskmoor",
    "Ashford",
    "Kestrel Point",
    "Brindle Vale",
    "Oldwater",
    "Candlefen",
    "Greywatch",
    "Marrowby",
    "Stonehollow",
    "Wyrmsby",
    "Fallowmere",
    "Redbrook",
    "Hollin Cross",
    "Eastmarch",
    "Cinderhythe",
    "Blackwater Ford",
    "Larkspur",
    "Winterly",
]
FIRST_NAMES = [
    "Grukk",
    "Maelis",
    "Odo",
    "Brannoc",
    "Sefa",
    "Tamsin",
    "Horst",
    "Ilvi",
    "Jory",
    "Kestra",
    "Lorcan",
    "Mirabel",
    "Nedda",
    "Osric",
    "Pell",
    "Quill",
    "Rhosyn",
    "Sabra",
    "Tobiah",
    "Ulla",
    "Vosk",
    "Wenna",
    "Yarrow",
    "Zeb",
    "Agathe",
    "Bastien",
    "Corvin",
    "Dagna",
    "Edric",
    "Fen",
    "Gilda",
    "Hobb",
    "Isolde",
    "Jasper",
    "Knuckle",
    "Lysa",
    "Mott",
    "Nim",
    "Orla",
    "Piet",
]
SURNAMES = [
    "Ashdown",
    "Bramblewick",
    "Cole",
    "Dunmore",
    "Eel",
    "Fairweather",
    "Grimsby",
    "Hale",
    "Ironside",
    "Juniper",
    "Kettle",
    "Lowmoor",
    "Marsh",
    "Nettlefield",
    "Oakes",
    "Pike",
    "Quarrel",
    "Rook",
    "Saltonstall",
    "Thorne",
    "Underhill",
    "Vane",
    "Webb",
    "Yew",
]
ROLES = [
    "goblin toll-keeper",
    "retired harbour-master",
    "nervous acolyte",
    "smuggler captain",
    "miller's widow",
    "travelling tinker",
    "watch sergeant",
    "lighthouse keeper",
    "disgraced scholar",
    "innkeeper",
    "ferryman",
    "hedge witch",
    "quarry foreman",
    "customs clerk",
    "caravan master",
    "ghost of a drowned sailor",
    "troll who lives under the bridge",
    "young noble in disguise",
    "fence for stolen goods",
    "grave-digger",
    "priestess of the tide",
    "half-orc bouncer",
    "alchemist's apprentice",
    "mercenary captain",
    "blind fortune-teller",
    "street urchin",
    "guild accountant",
    "dwarf smith",
    "elven envoy",
    "bandit lookout",
]
DISPOSITIONS = ["hostile", "wary", "neutral", "friendly"]
VOICES = [
    "Speaks of himself in the third person, squeaky and boastful.",
    "Slow, courteous and ancient; pauses mid-sentence to remember words.",
    "Clipped and official; reads every rule aloud from a ledger.",
    "Warm and motherly, but sharp as a knife when crossed.",
    "Mumbles into a scarf and avoids eye contact.",
    "Booming laugh, slaps backs, calls everyone 'cousin'.",
    "Whispers, as if someone else might be listening.",
    "Sing-song voice; answers questions with other questions.",
    "Dry and sardonic; has seen every trick twice.",
    "Nervous stammer that vanishes when talking about the sea.",
    "Formal court speech, a little out of date.",
    "Gruff, short sentences, spits after every refusal.",
    "Cheerful and far too honest for her trade.",
    "Quotes scripture, usually slightly wrong.",
    "Speaks in a hoarse rasp and coughs up sand.",
    "Flirts with everyone, remembers nobody's name.",
]
KNOWS = [
    "The {place} was built by dwarves long before the town existed.",
    "The toll is {coin} silver a head, and it changes with the weather.",
    "Strangers came through {name} three nights ago, asking about the old road.",
    "The bell in the {place} has not rung since the flood.",
    "The local lord owes money to half the merchants in {name}.",
    "The path north floods at high tide; the south path is longer but dry.",
    "The watch changes at midnight, and the new sergeant is lazy.",
    "{npc} has worked here for {years} years and never missed a day.",
    "There is an old smugglers' tunnel under the {place}.",
    "A reward of {coin} gold is posted for the bandits on the ridge.",
    "The priest in {name} buys any relic, no questions asked.",
    "Wolves have been seen closer to the walls every winter.",
    "The ferry will not run after dark, whatever you pay.",
    "The cellar door sticks unless you lift it by the hinge.",
    "The mayor's daughter ran off with a sailor last spring.",
    "Lamp oil has doubled in price since the caravans stopped.",
]
SECRETS = [
    "{npc} lost the {thing} at cards and must repay {coin} silver by moonrise.",
    "{npc} is secretly paid by the smugglers to look the other way.",
    "The {thing} is hidden behind a loose stone in the {place}.",
    "{npc} saw who started the fire but fears for their family.",
    "The ledger in the {place} has two sets of accounts.",
    "{npc} is the missing heir the baron has been searching for.",
    "The ghost only wants its name carved on the memorial stone.",
    "{npc} poisoned the well by accident and has told no one.",
    "The real key to the vault is worn on a cord around {npc}'s neck.",
    "The cult meets under the {place} on the night of the new moon.",
    "{npc} forged the deed to the {place} twenty years ago.",
    "The sea-chest holds letters that prove the captain's treason.",
]
THINGS = [
    "lucky bone dice",
    "silver reliquary",
    "harbour charter",
    "brass key",
    "saint's finger bone",
    "map of the old mines",
    "sealed letter",
    "signet ring",
    "lamp of the first keeper",
    "ledger",
    "jade idol",
    "tide-table",
]
SETTING_SENTENCES = [
    "The {adj} {place} stands at the edge of {name}, its {part} patched with whatever came "
    "to hand.",
    "{npc}, the {role}, keeps watch over it and has done for years.",
    "Rain has fallen for three days, and the roads around {name} are thick with mud.",
    "Nobody in {name} likes to talk about what happened here last winter.",
    "The {thing} was last seen here, and at least two people want it badly.",
    "Beneath the floor runs an old passage that only the oldest locals remember.",
    "A debt, a lie and a locked door sit at the heart of the scene.",
    "The townsfolk of {name} are tired, hungry and suspicious of strangers.",
    "At dusk the {place} fills with fog that smells of salt and tar.",
    "{npc} is frightened rather than cruel, and will bargain if given a way to save face.",
    "The local watch will not come unless someone rings the alarm bell.",
    "Whoever controls the {place} controls the only safe crossing for a day's ride.",
]
OPENING_SENTENCES = [
    "The road ends at the {adj} {place}, where the wind carries the smell of wet stone.",
    "A painted sign creaks on its chain; half the letters have been scratched away.",
    "Somewhere below, water drips steadily into a dark pool.",
    "A lantern burns in a single window, and a shadow moves behind the glass.",
    "{npc} steps out to meet you, one hand resting on a belt knife.",
    "'Travellers,' {npc} says, 'you have picked a bad night to come to {name}.'",
    "Gulls wheel overhead, crying like unhappy children.",
    "The planks under your boots are soft with rot and bow at every step.",
    "A dog barks twice and then falls suddenly, completely silent.",
    "Someone has chalked a warning on the door in a language you half recognise.",
    "The air is cold enough to see your breath, though it is the middle of summer.",
    "From far off comes the slow toll of a bell that should not be ringing.",
    "Crates are stacked against one wall, stamped with the mark of a merchant house.",
    "A cat watches you from a windowsill with open, unfriendly interest.",
    "Smoke rises from a chimney, thin and grey, and smells faintly of cloves.",
    "The door stands ajar; inside, a chair lies on its back beside a spilled cup.",
    "Your guide stops short of the gate and will go no further for any price.",
    "Fresh cart tracks cut through the mud and vanish toward the trees.",
    "Laughter spills from somewhere inside, then stops as if a hand covered a mouth.",
    "Above the lintel hangs a wreath of dried thistles, the old sign against bad luck.",
    "{npc} looks up from a game of cards and does not smile.",
    "Rain drums on the roof and runs in a steady stream from a broken gutter.",
    "An old woman sweeps the same patch of step, watching you from under her hood.",
    "Somebody has nailed a fresh notice over an older one; both promise a reward.",
    "The smell of fried onions and wet wool hangs in the air.",
    "A horse stamps and snorts in a stable you cannot see.",
    "{npc} wipes their hands on a stained apron and asks what you want.",
    "Far off, a horn sounds three times, then stops.",
    "Lanterns swing on their hooks as the wind picks up.",
    "Every window on the street is shuttered, though it is not yet dusk.",
    "A child runs past with a loaf under each arm, chased by nobody at all.",
    "The mud here is churned by boots, and some of the prints are bare and far too large.",
    "{npc} is arguing with someone behind a half-closed door and stops when you knock.",
    "Ivy has grown over half the wall, and something glints among the leaves.",
    "A bell above the door jangles as you step inside.",
    "The floor is strewn with rushes that have not been changed in a month.",
]
GM_NOTE_SENTENCES = [
    "{npc} blusters but shrinks at a real threat and brightens at a kind word.",
    "If the party turns violent, the alarm brings help within three rounds.",
    "The best ending settles the debt rather than dodging it; reward creative solutions.",
    "Let players find the passage if they search the cellar; do not hide it behind luck.",
    "Keep the pace quick; the scene should not outlast a single evening's play.",
    "The {thing} is a red herring unless the players make it matter.",
    "If the party is stuck, have {npc} let something slip about the {place}.",
    "Paying off {npc} works, but leaves the real problem for the next travellers.",
    "Describe the weather worsening as the turn limit approaches.",
]
SKILL_ACTIONS: dict[str, tuple[str, list[str]]] = {
    "acrobatics": ("balances, tumbles or leaps across the {part}", ["leap", "jump", "balance"]),
    "animal-handling": ("tries to calm or command the animals", ["calm the dog", "soothe"]),
    "arcana": ("studies the runes or the strange magic at work", ["runes", "magic", "glyph"]),
    "athletics": ("climbs, forces or swims past the {part}", ["climb", "force", "swim"]),
    "deception": ("lies to {npc} or claims a false authority", ["bluff", "lie", "pretend"]),
    "history": ("recalls what they know of {name} and its past", ["remember", "history"]),
    "insight": ("reads {npc}'s mood or asks what is really wrong", ["read", "sense motive"]),
    "intimidation": ("threatens {npc} or tries to frighten them", ["threaten", "scare"]),
    "investigation": ("searches the {place} for clues or hidden things", ["search", "examine"]),
    "medicine": ("tends the wounded or examines the body", ["heal", "treat", "bandage"]),
    "nature": ("studies the tracks, plants or weather around the {place}", ["tracks", "herbs"]),
    "perception": ("keeps watch or listens for danger", ["listen", "look around", "watch"]),
    "performance": ("sings, plays or tells a story to win the crowd", ["sing", "perform"]),
    "persuasion": ("reasons, pleads or haggles with {npc}", ["persuade", "convince", "haggle"]),
    "religion": ("recognises the shrine's rites or prays at it", ["pray", "blessing", "rite"]),
    "sleight-of-hand": ("tries to lift the {thing} unseen", ["pickpocket", "palm", "lift"]),
    "stealth": ("sneaks past {npc} or hides from the watch", ["sneak", "hide", "creep"]),
    "survival": ("follows the trail or finds shelter from the storm", ["track", "follow"]),
}
SUCCESS_LINES = [
    "{npc} relents and tells the truth about the {thing}.",
    "The way opens, and the party slips through before anyone notices.",
    "You spot the loose stone; behind it lies the {thing}, wrapped in oilcloth.",
    "{npc} squeaks, drops the spear and flattens against the wall.",
    "The crowd roars its approval, and {npc} cannot refuse in front of them.",
    "The trail is clear: three riders, heading for the {place}, an hour ago.",
    "The wounded sailor opens his eyes and whispers a name.",
    "The runes flare and fade; the ward is broken.",
]
FAILURE_LINES = [
    "{npc} narrows their eyes and doubles the price.",
    "A plank cracks and the noise brings the watch running.",
    "Nothing: whatever was here has been moved.",
    "{npc} bangs the gong with all their might.",
    "The crowd jeers and someone throws a cabbage.",
    "The rain has washed the trail away.",
    "The ward flares and burns the character's fingertips.",
    "{npc} shouts for help and bars the door.",
]
OUTCOMES = {
    "success": [
        ("settled-the-debt", "The party settles the debt and leaves with {npc}'s blessing."),
        ("recovered-the-{thing_slug}", "The party recovers the {thing} and returns it."),
        ("exposed-the-plot", "The party exposes the plot to the people of {name}."),
        ("crossed-as-friends", "The party crosses as friends of the {place}."),
        ("freed-the-prisoner", "The party frees the prisoner held in the {place}."),
        ("laid-the-ghost-to-rest", "The party lays the restless spirit to rest."),
    ],
    "partial": [
        ("paid-the-toll", "The party pays, full or haggled, and moves on."),
        ("escaped-with-nothing", "The party escapes but leaves the {thing} behind."),
        ("struck-a-bargain", "The party strikes a bargain that costs them something."),
        ("got-half-the-truth", "The party learns part of the truth and leaves."),
    ],
    "failure": [
        ("turned-back", "The party gives up and turns back."),
        ("raised-the-alarm", "The alarm is raised and the party flees {name}."),
        ("lost-the-{thing_slug}", "The {thing} is lost for good."),
        ("arrested-by-the-watch", "The watch arrests the party for trespass."),
    ],
}
OUTCOME_KEYWORDS = {
    "success": [["hand it over", "return it"], ["agree", "shake hands"], ["reveal", "expose"]],
    "partial": [["pay", "hand over the coins"], ["bargain", "deal"], ["leave", "walk away"]],
    "failure": [["turn back", "give up"], ["run", "flee"], ["surrender"]],
}
ITEM_NAMES = [
    ("bridge-token", "Bridge Token", "A carved slate disc; its bearer crosses free forever."),
    ("brass-key", "Brass Key", "A heavy key stamped with a harbour crest."),
    ("tide-charm", "Tide Charm", "A shell on a cord that hums before a storm."),
    ("silver-reliquary", "Silver Reliquary", "Holds a saint's finger bone, or so they say."),
    ("smugglers-map", "Smugglers' Map", "Marks three coves and a tunnel under the lighthouse."),
    ("healing-draught", "Healing Draught", "Tastes of mint and copper; heals 2d4+2."),
    ("lucky-dice", "Lucky Bone Dice", "Yellowed dice that always roll a little high."),
    ("signet-ring", "Signet Ring", "Opens doors in the baron's household."),
    ("lantern-of-gullrock", "Lantern of Gullrock", "Burns without oil for one night."),
    ("toll-receipt", "Toll Receipt", "A scrap of bark scrawled 'PAYED'. Oddly charming."),
    ("sealed-letter", "Sealed Letter", "Addressed to the harbour-master, wax unbroken."),
    ("iron-crowbar", "Iron Crowbar", "Well used; someone carved initials in the grip."),
]
PARTS = ["planks", "shutters", "roof", "gates", "stairs", "walls", "railings", "doors"]
TAGS = [
    "social",
    "combat",
    "exploration",
    "mystery",
    "low-level",
    "one-shot",
    "horror",
    "comedy",
    "chase",
    "puzzle",
]
LORE = [
    ("goblins", "Goblins of the Mossback Hills", ["goblin", "goblins", "gobbo"]),
    ("port-varrow", "Port Varrow", ["varrow", "harbour", "docks"]),
    ("gullrock-light", "The Gullrock Light", ["gullrock", "lighthouse", "keeper"]),
    ("the-drowned-bell", "The Drowned Bell", ["bell", "drowned bell", "flood"]),
    ("the-troll-under-the-bridge", "Old Knuckle", ["troll", "knuckle", "bridge"]),
    ("the-salt-road", "The Salt Road", ["salt road", "caravan", "salt"]),
    ("church-of-the-tide", "The Church of the Tide", ["tide", "priestess", "shrine"]),
    ("harrowdeep-mines", "The Harrowdeep Mines", ["mine", "harrowdeep", "ore"]),
    ("the-night-market", "The Night Market", ["market", "night market", "fence"]),
    ("baron-ashdown", "Baron Ashdown", ["baron", "ashdown", "heir"]),
]
LORE_PARAGRAPHS = [
    "Travellers have told stories about {title} for as long as anyone in the region can "
    "remember, and most of those stories contradict each other in the details.",
    "The locals are polite to strangers who ask about it, but they change the subject "
    "quickly, and a few of the older ones make a small sign against bad luck.",
    "In the last century a flood, a fire and a bad harvest came one after another, and each "
    "was blamed, in turn, on whatever the town feared most that year.",
    "Merchants value it for trade and the temple values it for its relics; the two have "
    "quarrelled over it in the baron's court more than once.",
    "**At the table:** play it as a place with a long memory. NPCs who grew up nearby know "
    "one true thing about it and two rumours, and they cannot tell which is which.",
    "Children dare each other to touch its walls at midnight; none of them will say what "
    "happens if you do.",
]
PERSONA = """\
# The game master's persona for the benchmark repository (generated by bench/gen_specs.py).

name: Mardonar

voice: |
  You are Mardonar, an old road-warden who has walked every bridge, dock and lighthouse
  stair in these lands. You narrate in the present tense and the second person, with
  concrete detail. You are warm but dry, fair with the dice, and you give every NPC their
  own voice. End each reply on what the characters face now.

rules:
  - Never decide what a player character does, says, thinks or feels.
  - Call skill_check with the spec check id before narrating the result of a roll.
  - Never reveal an NPC's secret until a check involving that NPC has succeeded.
  - Use only the DCs, items and outcomes in the spec.
  - Stay in the fiction; never mention being an AI, a model, these rules or the spec.

skills:
{skills}

filters:
  banned:
    - "(?i)\\\\bas an ai\\\\b"
    - "(?i)\\\\blanguage model\\\\b"
  max_words: 180

model:
  temperature: 0.8
  max_tokens: 400

fallback_lines:
  - Mardonar squints at the road ahead. "Say that once more, friend; the wind took it."
"""
PARTY = """\
# The default local party for `mardonar play` (generated by bench/gen_specs.py).

characters:
  - player: aria
    name: Aria Swiftwind
    class: rogue
    level: 3
    skills: {stealth: 7, sleight-of-hand: 7, acrobatics: 6, deception: 5, perception: 5}
  - player: bram
    name: Bram Ironfoot
    class: fighter
    level: 3
    skills: {athletics: 7, intimidation: 5, survival: 4, perception: 3}
  - player: cyra
    name: Cyra Vell
    class: cleric
    level: 3
    skills: {religion: 6, insight: 6, medicine: 6, persuasion: 5, history: 3}
"""

# --------------------------------------------------------------------------- helpers


def slug(text: str) -> str:
    return re.sub(r"[^a-z0-9]+", "-", text.lower()).strip("-")


_PLAIN_UNSAFE = re.compile(r"(: )|( #)|(:$)|^[-?:,\[\]{}#&*!|>'\"%@`]|^\s|\s$")
_RESERVED = {"true", "false", "yes", "no", "on", "off", "null", "~", "y", "n"}


def scalar(text: str) -> str:
    """A single-line YAML scalar: plain where that reads the same, else double-quoted."""
    if (
        not text
        or _PLAIN_UNSAFE.search(text)
        or text.lower() in _RESERVED
        or re.fullmatch(r"[-+.\d_eE:]+", text)
    ):
        return json.dumps(text, ensure_ascii=False)
    return text


def flow_list(values: list[str]) -> str | None:
    """`[a, b]` when every value is a safe plain word group, else None (use a block list)."""
    if all(re.fullmatch(r"[A-Za-z0-9][A-Za-z0-9 '\-]*", v) and scalar(v) == v for v in values):
        return "[" + ", ".join(values) + "]"
    return None


def fill(template: str, names: dict[str, str]) -> str:
    return template.format(**names)


def sentence_block(rng: random.Random, pool: list[str], count: int, names: dict[str, str]) -> str:
    picked = rng.sample(pool, min(count, len(pool)))
    return " ".join(fill(s, names) for s in picked)


def wrap(text: str, width: int) -> list[str]:
    return textwrap.wrap(text, width=width, break_long_words=False, break_on_hyphens=False)


# --------------------------------------------------------------------------- the spec


@dataclass
class Line:
    text: str | None  # None: deleted by a mutation
    tag: tuple[Any, ...] = ()  # e.g. ("checks", 2, "dc"); () for structure and prose


@dataclass
class SpecPlan:
    id: str
    title: str
    summary: str
    tags: list[str]
    players: tuple[int, int] | None
    version: int | None
    setting: list[str]
    opening: list[str]
    gm_notes: list[str]
    npcs: list[dict[str, Any]]
    checks: list[dict[str, Any]]
    outcomes: list[dict[str, Any]]
    items: list[dict[str, Any]]
    lore: list[str]
    limits: dict[str, int] | None
    schema_comment: bool
    names: dict[str, str] = field(default_factory=dict)


def plan_spec(
    rng: random.Random, spec_id: str, title: str, place: str, town: str, sizes: dict[str, int]
) -> SpecPlan:
    thing = rng.choice(THINGS)
    # NPCs
    npcs: list[dict[str, Any]] = []
    used_npc_ids: set[str] = set()
    for _ in range(sizes["npcs"]):
        first = rng.choice(FIRST_NAMES)
        name = first if rng.random() < 0.5 else f"{first} {rng.choice(SURNAMES)}"
        npc_id = slug(name)
        while npc_id in used_npc_ids:
            name = f"{first} {rng.choice(SURNAMES)}"
            npc_id = slug(name)
        used_npc_ids.add(npc_id)
        npcs.append(
            {
                "id": npc_id,
                "name": name,
                "role": rng.choice(ROLES),
                "disposition": rng.choice(DISPOSITIONS),
                "voice": rng.choice(VOICES),
            }
        )
    lead = npcs[0]["name"]
    names = {
        "place": place.replace("-", " "),
        "name": town,
        "thing": thing,
        "thing_slug": slug(thing),
        "npc": lead,
        "role": npcs[0]["role"],
        "adj": title.split()[1].lower() if title.startswith("The ") else "old",
        "part": rng.choice(PARTS),
        "coin": str(rng.choice([3, 5, 10, 20, 50])),
        "years": str(rng.randint(3, 40)),
    }
    for npc in npcs:
        local = dict(names, npc=npc["name"])
        npc["knows"] = [fill(k, local) for k in rng.sample(KNOWS, rng.randint(1, 3))]

    # Outcomes (ids unique in the spec)
    outcomes: list[dict[str, Any]] = []
    used_outcome_ids: set[str] = set()
    results = ["success", "partial", "failure"]
    for index in range(sizes["outcomes"]):
        result = results[index % 3] if index < 3 else rng.choice(results)
        options = [o for o in OUTCOMES[result] if fill(o[0], names) not in used_outcome_ids]
        if not options:
            result = next(
                r
                for r in results
                if any(fill(o[0], names) not in used_outcome_ids for o in OUTCOMES[r])
            )
            options = [o for o in OUTCOMES[result] if fill(o[0], names) not in used_outcome_ids]
        raw_id, when = rng.choice(options)
        outcome_id = fill(raw_id, names)[:64].strip("-")
        used_outcome_ids.add(outcome_id)
        outcomes.append(
            {
                "id": outcome_id,
                "result": result,
                "when": fill(when, names),
                "xp": {"success": rng.choice([60, 80, 100, 150, 200]), "partial": 40}.get(
                    result, 0
                ),
            }
        )

    # Checks
    checks: list[dict[str, Any]] = []
    used_check_ids: set[str] = set()
    outcome_ids = [o["id"] for o in outcomes]
    for _ in range(sizes["checks"]):
        skill = rng.choice(SKILLS)
        npc = rng.choice(npcs) if rng.random() < 0.7 else None
        local = dict(names, npc=npc["name"] if npc else lead)
        verb = skill.split("-")[0] if skill != "sleight-of-hand" else "pickpocket"
        base_id = f"{verb}-{npc['id']}" if npc else f"{verb}-{slug(names['place'])}"
        check_id = base_id
        counter = 2
        while check_id in used_check_ids:
            check_id = f"{base_id}-{counter}"
            counter += 1
        used_check_ids.add(check_id)
        action, keywords = SKILL_ACTIONS[skill]
        check: dict[str, Any] = {
            "id": check_id,
            "skill": skill,
            "dc": rng.choice([8, 10, 10, 12, 12, 13, 14, 15, 15, 16, 18, 20]),
            "npc": npc["id"] if npc else None,
            "trigger": f"A player {fill(action, local)}.",
            "keywords": rng.sample(keywords, rng.randint(1, len(keywords))),
            "on_success": fill(rng.choice(SUCCESS_LINES), local),
            "on_failure": fill(rng.choice(FAILURE_LINES), local),
            "repeatable": rng.random() < 0.15,
            "leads_to": rng.choice(outcome_ids) if rng.random() < 0.5 else None,
            "failure_leads_to": rng.choice(outcome_ids) if rng.random() < 0.12 else None,
        }
        checks.append(check)

    # Secrets only for NPCs some check involves (M403), reachability for outcomes (M401).
    checked = {c["npc"] for c in checks if c["npc"]}
    for npc in npcs:
        local = dict(names, npc=npc["name"])
        if npc["id"] in checked and rng.random() < 0.75:
            npc["secrets"] = [fill(s, local) for s in rng.sample(SECRETS, rng.randint(1, 2))]
    led_to = {c["leads_to"] for c in checks} | {c["failure_leads_to"] for c in checks}
    for outcome in outcomes:
        if outcome["id"] not in led_to or rng.random() < 0.3:
            outcome["keywords"] = rng.choice(OUTCOME_KEYWORDS[outcome["result"]])

    # Items, granted by success/partial outcomes
    items: list[dict[str, Any]] = []
    for item_id, item_name, description in rng.sample(ITEM_NAMES, sizes["items"]):
        item: dict[str, Any] = {"id": item_id, "name": item_name}
        if rng.random() < 0.7:
            item["description"] = description
        if rng.random() < 0.5:
            token = "".join(
                rng.choice("abcdefghjkmnpqrstuvwxyzABCDEFGHJKLMNPQRSTUVWXYZ23456789")
                for _ in range(16)
            )
            item["foundry"] = f"Compendium.world.items.Item.{token}"
        items.append(item)
        givers = [o for o in outcomes if o["result"] != "failure"] or outcomes
        rng.choice(givers).setdefault("items", []).append(item_id)

    setting = sentence_block(rng, SETTING_SENTENCES, rng.randint(2, 5), names)
    opening = [fill(s, names) for s in rng.sample(OPENING_SENTENCES, rng.randint(2, 4))]
    gm_notes = (
        [fill(s, names) for s in rng.sample(GM_NOTE_SENTENCES, rng.randint(1, 3))]
        if rng.random() < 0.6
        else []
    )
    return SpecPlan(
        id=spec_id,
        title=title,
        summary=f"{lead}, the {npcs[0]['role']}, stands between the party and the {thing} at "
        f"the {names['place']} in {town}.",
        tags=[*rng.sample(TAGS, rng.randint(0, 3)), PLACES_TAG.get(place, "adventure")],
        players=(1, rng.randint(4, 6)) if rng.random() < 0.6 else None,
        version=rng.randint(1, 4) if rng.random() < 0.5 else None,
        setting=[setting],
        opening=opening,
        gm_notes=gm_notes,
        npcs=npcs,
        checks=checks,
        outcomes=outcomes,
        items=items,
        lore=rng.sample([lore_id for lore_id, _, _ in LORE], rng.randint(0, 3)),
        limits={"max_turns": rng.choice([20, 24, 30, 40]), "bonus_xp": rng.choice([0, 20, 50])}
        if rng.random() < 0.7
        else None,
        schema_comment=rng.random() < 0.5,
        names=names,
    )


PLACES_TAG = dict(PLACES)
PARAGRAPH = "\n"  # a paragraph break in SpecPlan.opening


def emit(plan: SpecPlan) -> list[Line]:
    """The spec as YAML lines, each tagged with the path of the key it writes."""
    out: list[Line] = []

    def add(text: str, *tag: Any) -> None:
        out.append(Line(text, tuple(tag)))

    def block(key: str, paragraphs: list[str], indent: str = "") -> None:
        add(f"{indent}{key}: |", key)
        for number, paragraph in enumerate(paragraphs):
            if number:
                add("")
            for line in wrap(paragraph, 88):
                add(f"{indent}  {line}", key, "text")

    def str_list(key: str, values: list[str], indent: str, *tag: Any) -> None:
        flow = flow_list(values)
        if flow is not None:
            add(f"{indent}{key}: {flow}", *tag, key)
        else:
            add(f"{indent}{key}:", *tag, key)
            for index, value in enumerate(values):
                add(f"{indent}  - {scalar(value)}", *tag, key, index)

    if plan.schema_comment:
        add("# yaml-language-server: $schema=../schemas/spec.schema.json")
    add(f"id: {plan.id}", "id")
    add(f"title: {scalar(plan.title)}", "title")
    add(f"summary: {scalar(plan.summary)}", "summary")
    if plan.version is not None:
        add(f"version: {plan.version}", "version")
    if plan.tags:
        str_list("tags", plan.tags, "")
    if plan.players:
        add(f"players: {{min: {plan.players[0]}, max: {plan.players[1]}}}", "players")
    add("")
    block("setting", plan.setting)
    add("")
    paragraphs: list[list[str]] = [[]]
    for sentence in plan.opening:
        if sentence == PARAGRAPH:
            paragraphs.append([])
        else:
            paragraphs[-1].append(sentence)
    block("opening", [" ".join(p) for p in paragraphs if p])
    if plan.gm_notes:
        add("")
        block("gm_notes", [" ".join(plan.gm_notes)])
    add("")
    add("npcs:", "npcs")
    for index, npc in enumerate(plan.npcs):
        add(f"  - id: {npc['id']}", "npcs", index, "id")
        add(f"    name: {scalar(npc['name'])}", "npcs", index, "name")
        add(f"    role: {scalar(npc['role'])}", "npcs", index, "role")
        add(f"    disposition: {npc['disposition']}", "npcs", index, "disposition")
        add(f"    voice: {scalar(npc['voice'])}", "npcs", index, "voice")
        str_list("knows", npc["knows"], "    ", "npcs", index)
        if npc.get("secrets"):
            str_list("secrets", npc["secrets"], "    ", "npcs", index)
    if plan.checks:
        add("")
        add("checks:", "checks")
    for index, check in enumerate(plan.checks):
        tag = ("checks", index)
        add(f"  - id: {check['id']}", *tag, "id")
        add(f"    skill: {check['skill']}", *tag, "skill")
        add(f"    dc: {check['dc']}", *tag, "dc")
        if check["npc"]:
            add(f"    npc: {check['npc']}", *tag, "npc")
        add(f"    trigger: {scalar(check['trigger'])}", *tag, "trigger")
        str_list("keywords", check["keywords"], "    ", *tag)
        add(f"    on_success: {scalar(check['on_success'])}", *tag, "on_success")
        add(f"    on_failure: {scalar(check['on_failure'])}", *tag, "on_failure")
        if check["repeatable"]:
            add("    repeatable: true", *tag, "repeatable")
        if check["leads_to"]:
            add(f"    leads_to: {check['leads_to']}", *tag, "leads_to")
        if check["failure_leads_to"]:
            add(f"    failure_leads_to: {check['failure_leads_to']}", *tag, "failure_leads_to")
    add("")
    add("outcomes:", "outcomes")
    for index, outcome in enumerate(plan.outcomes):
        tag = ("outcomes", index)
        add(f"  - id: {outcome['id']}", *tag, "id")
        add(f"    result: {outcome['result']}", *tag, "result")
        add(f"    when: {scalar(outcome['when'])}", *tag, "when")
        if outcome.get("keywords"):
            str_list("keywords", outcome["keywords"], "    ", *tag)
        add(f"    xp: {outcome['xp']}", *tag, "xp")
        if outcome.get("items"):
            str_list("items", outcome["items"], "    ", *tag)
    if plan.items:
        add("")
        add("items:", "items")
    for index, item in enumerate(plan.items):
        tag = ("items", index)
        add(f"  - id: {item['id']}", *tag, "id")
        add(f"    name: {scalar(item['name'])}", *tag, "name")
        if item.get("description"):
            add(f"    description: {scalar(item['description'])}", *tag, "description")
        if item.get("foundry"):
            add(f"    foundry: {item['foundry']}", *tag, "foundry")
    if plan.lore:
        add("")
        add(f"lore: [{', '.join(plan.lore)}]", "lore")
    if plan.limits:
        add("")
        add("limits:", "limits")
        add(f"  max_turns: {plan.limits['max_turns']}", "limits", "max_turns")
        add(f"  bonus_xp: {plan.limits['bonus_xp']}", "limits", "bonus_xp")
    return out


def render(lines: list[Line]) -> str:
    return "\n".join(line.text for line in lines if line.text is not None) + "\n"


# --------------------------------------------------------------------------- prompt budget


class Budget:
    """Estimates persona + GM view tokens the way `mardonar lint` does (M404)."""

    def __init__(self, persona_text: str) -> None:
        self.exact = False
        try:
            import yaml

            from mardonar.content.models import Persona, Spec
            from mardonar.content.render import estimate_tokens, persona_prompt, spec_gm_view
        except Exception:  # no mardonar here: fall back to a conservative estimate
            self.persona_tokens = (len(persona_text) + 3) // 4 + 150
            return
        import yaml

        self.exact = True
        self._spec = Spec
        self._view = spec_gm_view
        self._estimate = estimate_tokens
        persona = Persona.model_validate(yaml.safe_load(persona_text))
        self.persona_tokens = estimate_tokens(persona_prompt(persona))

    def tokens(self, plan: SpecPlan, text: str) -> int:
        if self.exact:
            import yaml

            loader = getattr(yaml, "CSafeLoader", yaml.SafeLoader)
            spec = self._spec.model_validate(yaml.load(text, Loader=loader))
            return self.persona_tokens + self._estimate(self._view(spec))
        chars = len(plan.title) + len(plan.summary) + sum(map(len, plan.setting + plan.gm_notes))
        for entry in plan.npcs + plan.checks + plan.outcomes + plan.items:
            chars += 80 + sum(
                len(v) if isinstance(v, str) else sum(map(len, v)) + 3 * len(v)
                for v in entry.values()
                if isinstance(v, str | list)
            )
        return self.persona_tokens + int(chars * 1.15) // 4 + 60


# --------------------------------------------------------------------------- valid specs

LINES_PER = {"npc": 9.5, "check": 8.5, "outcome": 4.8, "item": 3.2}


def target_lines(rng: random.Random) -> int:
    # log-normal around a median of 100 lines, clipped to the 40..250 range
    return max(40, min(250, round(math.exp(rng.gauss(math.log(100), 0.42)))))


def choose_sizes(rng: random.Random, target: int) -> dict[str, int]:
    room = max(0, target - 34)  # header, setting, a short opening, blank lines, lore, limits
    share = rng.uniform(0.85, 1.0)  # the rest is prose (opening, gm_notes)
    room *= share
    npcs = max(1, min(6, round(room * rng.uniform(0.2, 0.4) / LINES_PER["npc"])))
    room -= npcs * LINES_PER["npc"]
    outcomes = max(1, min(6, round(room * rng.uniform(0.12, 0.25) / LINES_PER["outcome"]) + 1))
    room -= outcomes * LINES_PER["outcome"]
    items = max(0, min(4, round(room * rng.uniform(0.0, 0.12) / LINES_PER["item"])))
    room -= items * LINES_PER["item"]
    checks = max(0, min(12, round(room / LINES_PER["check"])))
    return {"npcs": npcs, "outcomes": outcomes, "items": items, "checks": checks}


def pad_to(plan: SpecPlan, rng: random.Random, target: int) -> list[Line]:
    """Lengthen the read-aloud opening (not part of the GM's prompt) toward `target` lines."""
    lines = emit(plan)
    used = set(plan.opening)
    fresh: list[str] = []
    while len(lines) < target:
        if rng.random() < 0.2 and len(plan.opening) > 3 and plan.opening[-1] != PARAGRAPH:
            plan.opening.append(PARAGRAPH)
        # a sentence wraps to ~0.8 lines: add most of the gap at once, then one at a time
        for _ in range(max(1, (target - len(lines)) * 3 // 4)):
            if not fresh:  # every sentence once before any repeats
                fresh = rng.sample(OPENING_SENTENCES, len(OPENING_SENTENCES))
            names = dict(plan.names, npc=rng.choice(plan.npcs)["name"])
            sentence = fill(fresh.pop(), names)
            if sentence in used and len(used) < len(OPENING_SENTENCES):
                continue
            used.add(sentence)
            plan.opening.append(sentence)
        lines = emit(plan)
    return lines


def make_valid(
    seed: int, index: int, used_ids: set[str], budget: Budget
) -> tuple[str, list[Line], SpecPlan]:
    rng = random.Random(f"{seed}:valid:{index}")
    return make_spec(rng, used_ids, budget)


def make_spec(
    rng: random.Random, used_ids: set[str], budget: Budget
) -> tuple[str, list[Line], SpecPlan]:
    place, _ = rng.choice(PLACES)
    adjective = rng.choice(ADJECTIVES)
    town = rng.choice(PLACE_NAMES)
    title = f"The {adjective.title()} {place.replace('-', ' ').title()} of {town}"
    spec_id = slug(f"{adjective}-{place}-of-{town}")
    counter = 2
    while spec_id in used_ids:
        spec_id = slug(f"{adjective}-{place}-of-{town}-{counter}")
        counter += 1
    used_ids.add(spec_id)
    target = target_lines(rng)
    sizes = choose_sizes(rng, target)
    limit = PROMPT_BUDGET - BUDGET_MARGIN
    for _attempt in range(40):
        plan = plan_spec(rng, spec_id, title, place, town, sizes)
        lines = pad_to(plan, rng, target)
        text = render(lines)
        if budget.tokens(plan, text) <= limit:
            return text, lines, plan
        # over the prompt budget: trade GM-facing detail for read-aloud prose
        if sizes["checks"] > 0:
            sizes["checks"] -= 1
        elif sizes["npcs"] > 1:
            sizes["npcs"] -= 1
        else:
            sizes["outcomes"] = max(1, sizes["outcomes"] - 1)
    raise RuntimeError(f"could not fit spec {spec_id} in the prompt budget")


# --------------------------------------------------------------------------- broken specs


@dataclass
class Mistake:
    name: str
    codes: tuple[str, ...]  # lint should report at least one of these
    fatal: bool = False  # a syntax error: lint stops reading the file there
    description: str = ""


def _find(lines: list[Line], predicate: Any, taken: set[int]) -> list[int]:
    return [
        i
        for i, line in enumerate(lines)
        if line.text is not None and i not in taken and predicate(line)
    ]


def _typo(rng: random.Random, word: str) -> str:
    if len(word) < 4:
        return word + "s"
    i = rng.randrange(1, len(word) - 1)
    kind = rng.choice(["drop", "swap", "double"])
    if kind == "drop":
        return word[:i] + word[i + 1 :]
    if kind == "swap" and word[i] != word[i + 1]:
        return word[:i] + word[i + 1] + word[i] + word[i + 2 :]
    return word[:i] + word[i] + word[i:]


def _top(key: str) -> Any:
    """A top-level `key:` line."""

    def predicate(line: Line) -> bool:
        return line.tag == (key,)

    return predicate


def _section_key(section: str, key: str) -> Any:
    def predicate(line: Line) -> bool:
        t = line.tag
        return len(t) == 3 and t[0] == section and t[2] == key

    return predicate


def mutate(
    name: str, rng: random.Random, lines: list[Line], plan: SpecPlan, taken: set[int]
) -> Mistake | None:
    """Apply one named mistake in place; None when this spec offers no place for it."""

    def pick(predicate: Any) -> int | None:
        found = _find(lines, predicate, taken)
        if not found:
            return None
        index = rng.choice(found)
        taken.add(index)
        return index

    if name == "tab-indent":
        i = pick(lambda ln: ln.text.startswith("    ") and len(ln.tag) == 3)
        if i is None:
            return None
        lines[i].text = "\t" + lines[i].text[4:]
        return Mistake(name, ("M101",), True, "a tab indents a line")
    if name == "colon-in-text":
        i = pick(lambda ln: len(ln.tag) == 3 and ln.tag[2] in ("on_success", "on_failure", "when"))
        if i is None:
            return None
        key = lines[i].tag[2]
        quote = rng.choice(["Halt: who goes there?", "Note: the door is trapped.", "Run: now!"])
        lines[i].text = f"    {key}: {plan.names['npc']} shouts {quote}"
        return Mistake(name, ("M101",), True, "an unquoted ': ' inside plain text")
    if name == "unclosed-flow":
        i = pick(lambda ln: ln.text.rstrip().endswith("]") and ": [" in ln.text)
        if i is None:
            return None
        lines[i].text = lines[i].text.rstrip()[:-1]
        return Mistake(name, ("M101",), True, "a flow list without its closing ]")
    if name == "bad-indent":
        i = pick(
            lambda ln: (
                len(ln.tag) == 3
                and ln.tag[0] in ("checks", "npcs")
                and ln.tag[2] not in ("id", "knows", "secrets", "keywords")
            )
        )
        if i is None:
            return None
        lines[i].text = ("   " if rng.random() < 0.5 else "     ") + lines[i].text.lstrip()
        return Mistake(name, ("M101",), True, "a key indented one space off")
    if name == "missing-space":
        i = pick(_section_key("checks", "dc"))
        if i is None:
            return None
        lines[i].text = lines[i].text.replace("dc: ", "dc:")
        return Mistake(name, ("M101",), True, "`dc:13` without the space after the colon")
    if name == "duplicate-key":
        i = pick(lambda ln: len(ln.tag) == 3 and ln.tag[2] in ("dc", "xp", "role", "result"))
        if i is None:
            return None
        line = lines[i]
        key = line.tag[2]
        value = {"dc": str(rng.randint(10, 18)), "xp": "50", "role": "guard", "result": "partial"}
        lines.insert(i + 1, Line(f"    {key}: {value[key]}", ("dup",)))
        _shift(taken, i + 1)
        taken.add(i + 1)
        return Mistake(name, ("M102",), False, f"`{key}` written twice in one mapping")
    if name == "unknown-key":
        choices = [
            ("keywords", "keyword"),
            ("on_success", "on_sucess"),
            ("disposition", "dispositon"),
            ("leads_to", "lead_to"),
            ("knows", "knowns"),
            ("description", "desc"),
            ("when", "condition"),
        ]
        rng.shuffle(choices)
        for key, wrong in choices:
            i = pick(
                lambda ln, key=key: (
                    len(ln.tag) >= 3 and ln.tag[2] == key and ln.text.lstrip().startswith(key + ":")
                )
            )
            if i is not None:
                lines[i].text = lines[i].text.replace(f"{key}:", f"{wrong}:", 1)
                return Mistake(name, ("M204",), False, f"`{wrong}` for `{key}`")
        if plan.checks:
            i = pick(_section_key("checks", "dc"))
            if i is not None:
                lines.insert(i + 1, Line("    difficulty: hard", ("extra",)))
                _shift(taken, i + 1)
                return Mistake(name, ("M204",), False, "an extra `difficulty` key")
        i = pick(_top("title"))
        if i is None:
            return None
        lines[i].text = lines[i].text.replace("title:", "name:", 1)
        return Mistake(name, ("M204", "M201"), False, "`name` for `title`")
    if name == "ref-typo":
        options = []
        if any(c["npc"] for c in plan.checks):
            options.append("npc")
        if any(c["leads_to"] for c in plan.checks):
            options.append("leads_to")
        if plan.lore:
            options.append("lore")
        if any(o.get("items") for o in plan.outcomes):
            options.append("items")
        if not options:
            return None
        which = rng.choice(options)
        if which in ("npc", "leads_to"):
            i = pick(_section_key("checks", which))
            if i is None:
                return None
            key, value = lines[i].text.strip().split(": ", 1)
            lines[i].text = f"    {key}: {_typo(rng, value)}"
        elif which == "lore":
            i = pick(_top("lore"))
            if i is None:
                return None
            wrong = _typo(rng, plan.lore[0])
            lines[i].text = lines[i].text.replace(plan.lore[0], wrong, 1)
        else:
            i = pick(
                lambda ln: len(ln.tag) >= 3 and ln.tag[0] == "outcomes" and ln.tag[2] == "items"
            )
            if i is None:
                return None
            item = next(o["items"][0] for o in plan.outcomes if o.get("items"))
            target = (
                item
                if item in lines[i].text
                else re.search(r"[a-z][a-z0-9-]+$", lines[i].text.rstrip("]"))
            )
            word = target if isinstance(target, str) else (target.group(0) if target else None)
            if not word:
                return None
            lines[i].text = lines[i].text.replace(word, _typo(rng, word), 1)
        return Mistake(name, ("M302",), False, f"a typo in a {which} reference")
    if name == "bad-dc":
        i = pick(_section_key("checks", "dc"))
        if i is None:
            return None
        value = rng.choice(["35", "0", "hard", "12.5", "-3", "DC 15"])
        lines[i].text = f"    dc: {value}"
        return Mistake(name, ("M202", "M203"), False, f"dc: {value}")
    if name == "missing-field":
        options = [("title",), ("summary",), ("setting",)]
        options += [("checks", "trigger"), ("outcomes", "result"), ("npcs", "name")]
        rng.shuffle(options)
        for option in options:
            if len(option) == 1:
                i = pick(_top(option[0]))
                if i is None:
                    continue
                if option == ("setting",):
                    for j, line in enumerate(lines):
                        if line.tag == ("setting", "text"):
                            line.text = None
                            taken.add(j)
            else:
                i = pick(_section_key(*option))
                if i is None:
                    continue
            lines[i].text = None
            return Mistake(name, ("M201",), False, f"no `{option[-1]}`")
        return None
    if name == "bad-enum":
        options = []
        options.append(("npcs", "disposition", rng.choice(["angry", "Hostile", "suspicious"])))
        options.append(("outcomes", "result", rng.choice(["win", "fail", "partial-success"])))
        section, key, value = rng.choice(options)
        i = pick(_section_key(section, key))
        if i is None:
            return None
        lines[i].text = f"    {key}: {value}"
        return Mistake(name, ("M203",), False, f"{key}: {value}")
    if name == "unknown-skill":
        i = pick(_section_key("checks", "skill"))
        if i is None:
            return None
        skill = lines[i].text.split(": ", 1)[1]
        wrong = rng.choice([_typo(rng, skill), "lockpicking", "diplomacy", "spot"])
        lines[i].text = f"    skill: {wrong}"
        return Mistake(name, ("M303", "M203"), False, f"skill: {wrong}")
    if name == "duplicate-id":
        for section in rng.sample(["checks", "outcomes", "npcs", "items"], 4):
            found = _find(lines, _section_key(section, "id"), taken)
            if len(found) >= 2:
                first, second = found[0], rng.choice(found[1:])
                taken.add(second)
                lines[second].text = lines[first].text
                return Mistake(name, ("M301",), False, f"two {section} with one id")
        return None
    if name == "bad-slug":
        i = pick(_top("id"))
        if i is None:
            return None
        lines[i].text = f"id: {scalar(plan.title)}"
        return Mistake(name, ("M203",), False, "the spec id is the title, not a slug")
    if name == "multiline-summary":
        i = pick(_top("summary"))
        if i is None:
            return None
        text = lines[i].text.split(": ", 1)[1].strip('"')
        lines[i].text = "summary: |"
        lines.insert(i + 1, Line(f"  {text}", ("summary", "text")))
        lines.insert(i + 2, Line("  The party must decide quickly.", ("summary", "text")))
        _shift(taken, i + 1, 2)
        return Mistake(name, ("M203",), False, "a summary over two lines")
    if name == "negative-xp":
        i = pick(_section_key("outcomes", "xp"))
        if i is None:
            return None
        lines[i].text = f"    xp: {rng.choice(['-50', 'lots', '100 each'])}"
        return Mistake(name, ("M202", "M203"), False, "xp not a whole number >= 0")
    if name == "wrong-type":
        i = pick(
            lambda ln: (
                len(ln.tag) >= 3
                and ln.tag[0] == "checks"
                and ln.tag[2] == "keywords"
                and ": [" in ln.text
            )
        )
        if i is None:
            return None
        lines[i].text = lines[i].text.replace("[", "").replace("]", "")
        return Mistake(name, ("M202",), False, "keywords as a comma string, not a list")
    if name == "id-mismatch":
        return Mistake(name, ("M306",), False, "the file name differs from the id")
    raise ValueError(name)


def _shift(taken: set[int], at: int, by: int = 1) -> None:
    moved = {i + by if i >= at else i for i in taken}
    taken.clear()
    taken.update(moved)


FATAL = ["tab-indent", "colon-in-text", "unclosed-flow", "bad-indent", "missing-space"]
NON_FATAL = [
    "duplicate-key",
    "unknown-key",
    "ref-typo",
    "bad-dc",
    "missing-field",
    "bad-enum",
    "unknown-skill",
    "duplicate-id",
    "bad-slug",
    "multiline-summary",
    "negative-xp",
    "wrong-type",
    "id-mismatch",
]


def make_broken(
    seed: int, index: int, used_ids: set[str], budget: Budget
) -> tuple[str, str, list[Mistake]]:
    """(file stem, text, mistakes) of one broken spec."""
    rng = random.Random(f"{seed}:broken:{index}")
    _, lines, plan = make_spec(rng, used_ids, budget)
    wanted = rng.choice([1, 1, 2, 2, 2, 3, 3])
    names = rng.sample(NON_FATAL, len(NON_FATAL))
    if rng.random() < 0.3:  # one syntax error, placed among the others
        names.insert(rng.randrange(0, wanted), rng.choice(FATAL))
    taken: set[int] = set()
    mistakes: list[Mistake] = []
    for name in names:
        if len(mistakes) == wanted:
            break
        if {name, *(m.name for m in mistakes)} >= {"bad-slug", "id-mismatch"}:
            continue  # a non-slug id is never compared with the file name
        mistake = mutate(name, rng, lines, plan, taken)
        if mistake is not None:
            mistakes.append(mistake)
    stem = plan.id
    if any(m.name == "id-mismatch" for m in mistakes):
        stem = "-".join(plan.id.split("-")[:2]) + f"-draft-{index}"
    if any(m.name == "bad-slug" for m in mistakes):
        stem = plan.id  # the file keeps its slug name; the id inside is the broken part
    return stem, render(lines), mistakes


# --------------------------------------------------------------------------- repository


def write_repo(out: Path, valid: int, broken: int, seed: int) -> dict[str, Any]:
    out.mkdir(parents=True, exist_ok=True)
    skills = "\n".join(f"  - {s}" for s in SKILLS)
    persona_text = PERSONA.format(skills=skills)
    (out / "persona.yaml").write_text(persona_text, encoding="utf-8")
    (out / "party.yaml").write_text(PARTY, encoding="utf-8")
    lore_dir = out / "lore"
    if lore_dir.exists():
        shutil.rmtree(lore_dir)
    lore_dir.mkdir()
    lore_rng = random.Random(f"{seed}:lore")
    for lore_id, title, keywords in LORE:
        paragraphs = [
            p.format(title=title) for p in lore_rng.sample(LORE_PARAGRAPHS, lore_rng.randint(3, 5))
        ]
        body = "\n\n".join("\n".join(wrap(p, 90)) for p in paragraphs)
        (lore_dir / f"{lore_id}.md").write_text(
            f"---\nkeywords: [{', '.join(keywords)}]\n---\n# {title}\n\n{body}\n", encoding="utf-8"
        )
    specs = out / "specs"
    if specs.exists():
        shutil.rmtree(specs)
    specs.mkdir()

    budget = Budget(persona_text)
    used_ids: set[str] = set()
    line_counts: list[int] = []
    for index in range(valid):
        text, _, plan = make_valid(seed, index, used_ids, budget)
        (specs / f"{plan.id}.yaml").write_text(text, encoding="utf-8")
        line_counts.append(text.count("\n"))
    manifest_broken: dict[str, Any] = {}
    for index in range(broken):
        stem, text, mistakes = make_broken(seed, index, used_ids, budget)
        path = specs / f"{stem}.yaml"
        while path.exists():
            stem += "-x"
            path = specs / f"{stem}.yaml"
        path.write_text(text, encoding="utf-8")
        fatal = next((m for m in mistakes if m.fatal), None)
        manifest_broken[f"specs/{stem}.yaml"] = {
            "mistakes": [
                {"name": m.name, "codes": list(m.codes), "fatal": m.fatal, "what": m.description}
                for m in mistakes
            ],
            # what lint can report: a syntax error hides everything else in the file
            "expect": [list(fatal.codes)] if fatal else [list(m.codes) for m in mistakes],
        }
    manifest = {
        "seed": seed,
        "valid": valid,
        "broken": broken,
        "budget_exact": budget.exact,
        "valid_lines": {
            "min": min(line_counts, default=0),
            "median": statistics.median(line_counts) if line_counts else 0,
            "max": max(line_counts, default=0),
            "total": sum(line_counts),
        },
        "broken_files": manifest_broken,
    }
    (out / "bench-manifest.json").write_text(json.dumps(manifest, indent=2) + "\n")
    return manifest


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--out", type=Path, default=Path("bench/out/lint-repo"))
    parser.add_argument("--valid", type=int, default=1000, help="valid specs (default 1000)")
    parser.add_argument("--broken", type=int, default=100, help="broken specs (default 100)")
    parser.add_argument("--seed", type=int, default=7)
    args = parser.parse_args(argv)
    manifest = write_repo(args.out, args.valid, args.broken, args.seed)
    lines = manifest["valid_lines"]
    print(
        f"{args.out}: {args.valid} valid specs (lines min {lines['min']}, median "
        f"{lines['median']}, max {lines['max']}), {args.broken} broken; "
        f"budget check {'exact (mardonar)' if manifest['budget_exact'] else 'approximate'}",
        file=sys.stderr,
    )
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
