# SPDX-FileCopyrightText: 2026 The tcvads_ros authors
# SPDX-License-Identifier: Apache-2.0
"""Captions of the synthetic benchmark: `synthetic.SceneFacts` put into varied words.

`tcvads synth` knows what it draws; this module says it the way people caption surveillance
frames, so that a text encoder trained on the captions (the stand-in CLIP,
`training/standin_clip.py`) has to learn what words mean rather than memorise one template:

- the anomaly under way comes first, in one of several phrasings per kind and phase, with
  synonyms for who, what and where (its XD class name appears in only some of them);
- then, sometimes, the normal activity around it (walkers, joggers, an orderly crowd, a pair
  chatting, slow cars), and for normal frames only that activity;
- an optional lead-in ("a photo of", "cctv footage of", ...) as alt texts have.

Every choice is drawn from the `rng` the caller passes (the video's own caption stream), so the
captions are deterministic and drawing them never shifts the frames' random streams.
"""

from __future__ import annotations

import numpy as np

PEOPLE = ("a person", "a man", "someone", "a pedestrian", "a figure", "a woman")
PLACES = ("on the plaza", "in the square", "on the pavement", "near the road", "in front of the buildings",
          "outside", "in a public square", "on the street")
LEADS = ("a photo of", "a cctv image of", "surveillance footage of", "a camera view of", "a still of",
         "security camera footage showing")

# (code, phase) -> phrasings; {who} and {where} are filled from PEOPLE and PLACES.
EVENTS: dict[tuple[str, str], tuple[str, ...]] = {
    ("B1", "on"): (
        "two people fighting {where}",
        "a fight between two men {where}",
        "two figures punching and shoving each other",
        "a brawl: two people exchange punches {where}",
        "fighting {where}, two people hit each other",
        "two men scuffle and throw punches",
        "a violent fistfight {where}",
    ),
    ("B2", "aiming"): (
        "{who} points a gun at another person {where}",
        "a gunman aims a pistol at someone",
        "an armed man raises his gun {where}",
        "a shooting is about to happen: {who} aims a weapon",
    ),
    ("B2", "firing"): (
        "{who} fires a gun, muzzle flash {where}",
        "a shooting {where}: a gunman shoots at a person",
        "shots fired, a bright muzzle flash from a pistol",
        "a man shooting at someone {where}",
    ),
    ("B2", "falling"): (
        "a person is shot and falls to the ground",
        "a shooting victim collapses {where}",
        "after the gunshot {who} drops to the ground",
        "shooting: a gunman stands over a falling victim",
    ),
    ("B2", "bleeding"): (
        "a shooting victim lies bleeding on the ground",
        "a wounded person lies in a pool of blood {where}",
        "a gunman stands near a person lying in blood",
        "after a shooting, a body on the ground and blood",
    ),
    ("B4", "running"): (
        "a riot {where}: a crowd runs in all directions",
        "rioters running around a fire with raised arms",
        "a violent mob in chaos {where}, something is burning",
        "a rioting crowd and flames {where}",
        "many people running wildly, a fire burning nearby",
        "riot: an angry crowd scatters around a blaze",
    ),
    ("B4", "throwing"): (
        "rioters throw objects {where}, a fire burns",
        "a riot: an angry crowd throwing stones",
        "a mob hurls rocks while a fire burns {where}",
        "rioting people running and throwing things",
    ),
    ("B5", "on"): (
        "{who} repeatedly beats a person lying on the ground",
        "abuse: someone strikes a helpless person on the floor",
        "a man kicking and hitting someone who lies on the ground {where}",
        "an attacker bends over a victim on the ground and hits them",
        "physical abuse {where}: blows rain on a person lying down",
        "a person on the ground is being beaten",
    ),
    ("B6", "speeding"): (
        "two cars speed toward each other on the road",
        "cars racing on a collision course",
        "two fast cars swerve across the lanes",
        "a car accident is about to happen: two speeding cars",
    ),
    ("B6", "impact"): (
        "a car accident: two cars crash into each other",
        "two cars collide on the road with a flash",
        "a violent crash between two vehicles",
        "a head-on collision of two cars",
    ),
    ("B6", "wreck"): (
        "wrecked cars spin after a crash, smoke and debris on the road",
        "a car accident: two damaged cars and scattered debris",
        "smoke rises from two crashed cars",
        "the aftermath of a car crash, debris across the road",
        "two vehicles after a collision, smoking on the street",
    ),
    ("G", "flash"): (
        "a huge explosion lights up the whole scene",
        "a blinding flash of an explosion {where}",
        "an explosion goes off, everything turns bright",
        "a bomb blast flashes {where}",
    ),
    ("G", "fireball"): (
        "an explosion: a fireball expands {where}",
        "a big fiery blast with flying debris",
        "a fireball and debris from an explosion",
        "an explosion with orange flames and fragments",
    ),
    ("G", "smoke"): (
        "thick smoke after an explosion {where}",
        "smoke and debris left by a blast",
        "a cloud of dark smoke after the explosion",
        "the explosion fades into smoke",
    ),
}

NORMAL_OPENERS = ("a normal day", "an ordinary street scene", "a quiet moment", "nothing unusual",
                  "a calm scene", "normal activity", "a normal street")


def _count(n: int, rng: np.random.Generator) -> str:
    if n == 1:
        return str(rng.choice(["one person walks", "a pedestrian walks", "someone strolls", "a person walks"]))
    if n == 2:
        return str(rng.choice(["two people walk", "a couple of pedestrians stroll", "two passers-by walk"]))
    return str(rng.choice([f"{('three', 'four', 'five')[min(n, 5) - 3]} people walk",
                           "several pedestrians walk", "a few people stroll", "people walk"]))


def activity(facts, rng: np.random.Generator) -> list[str]:
    """Phrases for the normal activity in view (in random order)."""
    parts = []
    if facts.walkers:
        parts.append(f"{_count(facts.walkers, rng)} {rng.choice(PLACES)}")
    if facts.joggers:
        parts.append(str(rng.choice(["a jogger runs past", "someone jogging", "a runner crosses the plaza",
                                     "a person out for a run"])))
    if facts.crowd:
        parts.append(str(rng.choice(["a group walks together calmly", "an orderly crowd of pedestrians",
                                     "a group of people walking in the same direction",
                                     "a calm crowd crossing the square"])))
    if facts.chat:
        parts.append(str(rng.choice(["two people chat", "a pair talking face to face",
                                     "two friends standing and talking", "a conversation between two people"])))
    if facts.cars:
        parts.append(str(rng.choice(["a car drives slowly along the road", "light traffic on the street",
                                     "cars passing by slowly", "a vehicle drives down the road"]
                                    if facts.cars == 1 or rng.random() < 0.5 else
                                    ["cars drive along the road", "traffic moves slowly"])))
    rng.shuffle(parts)
    return parts


def caption(facts, rng: np.random.Generator) -> str:
    """One caption of one frame's facts (`synthetic.SceneFacts`)."""
    who, where = str(rng.choice(PEOPLE)), str(rng.choice(PLACES))
    events = [str(rng.choice(EVENTS[code, phase])).format(who=who, where=where)
              for code, phase in facts.events if (code, phase) in EVENTS]
    around = activity(facts, rng)
    if events:
        text = " and ".join(events)
        if around and rng.random() < 0.5:
            text += str(rng.choice([", while ", "; nearby ", ", as ", ". "])) + around[0]
    else:
        head = [str(rng.choice(NORMAL_OPENERS))] if rng.random() < 0.4 or not around else []
        text = ", ".join(head + around[:int(rng.integers(1, 3))]) if around else head[0] + " " + \
            str(rng.choice(["on an empty plaza", "in an empty square", "with nobody around"]))
    if rng.random() < 0.3:
        text = f"{rng.choice(LEADS)} {text}"
    return text
