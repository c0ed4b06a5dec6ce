"""Page images whose text sits in the text cache, as `pagefit ingest` would leave them."""

from __future__ import annotations

from pathlib import Path

from PIL import Image

from pagefit._io import image_key
from pagefit.ocr import PageTextCache

# Long pages (~570 tokens): the same filler, then one fact each, past token 256; a query asks for each fact.
FILLER = "The committee reviewed the quarterly schedule and discussed routine matters of the office. " * 40
FACTS = [
    "The lighthouse keeper feeds seven orange cats every morning.",
    "Volcanic basalt columns cool into hexagonal prisms.",
    "The violin bow is strung with horsehair and rosin.",
]
FACT_QUERIES = [
    "who feeds the orange cats?",
    "how do basalt columns form hexagons?",
    "what is a violin bow strung with?",
]

# Twelve one-line pages on distinct topics, and a query for each (the training tests' corpora).
TOPICS = [
    "quarterly revenue of the northern region grew by twelve percent",
    "staff turnover and hiring in the central warehouse",
    "water quality samples taken at the coastal station",
    "capital projects: the new bridge and the depot roof",
    "customer satisfaction survey results by month",
    "carbon emissions of the bus fleet per kilometre",
    "board members, committees and meeting attendance",
    "library visits and loans of e-books per branch",
    "energy use of the pumping stations in winter",
    "outlook for next year: budget, risks and priorities",
    "safety incidents reported on construction sites",
    "rainfall and reservoir levels across the valley",
]
TOPIC_QUERIES = [
    "how much did revenue grow in the north",
    "how many people left the warehouse",
    "coastal water sample results",
    "bridge and depot building projects",
    "monthly customer survey scores",
    "bus fleet emissions per km",
    "who sits on the board committees",
    "e-book loans per library branch",
    "winter energy of pumping stations",
    "budget and risks next year",
    "construction site safety incidents",
    "reservoir levels after rainfall",
]


def make_cached_pages(folder: Path, texts: list[str], size: tuple[int, int] = (48, 64)) -> list[str]:
    """Distinct PNG pages, one per text, with that text cached under each page's pixel hash."""
    folder.mkdir(parents=True, exist_ok=True)
    cache = PageTextCache()
    paths = []
    for i, text in enumerate(texts):
        image = Image.new("RGB", size, (20 * i % 256, 120, (255 - 20 * i) % 256))
        path = folder / f"page{i}.png"
        image.save(path)
        cache.put(image_key(image), text, "pdf")
        paths.append(str(path))
    return paths
