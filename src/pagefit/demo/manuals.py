"""The demo's held-out genre: equipment service manuals, a template no training document uses.

The demo trains on annual reports (`pagefit.demo.content`) and is judged on these manuals: other
sections (specifications, error codes, maintenance, installation, performance, warranty), other
vocabulary (model numbers, codes, intervals, clearances) and another page layout. A gain measured on
them is a gain on documents unlike the training ones, as a user's own documents would be.

The manuals share one template and similar magnitudes, so the right page is not found from the
document alone; every model number and code is drawn once, so each question has one answer page.
"""

from __future__ import annotations

import random

from pagefit.demo.content import Chart, Doc, Names, Page, PageQuery, Table, Theme, slug

__all__ = ["plan_manuals"]

_PRODUCTS = [
    ("heat pump", "Thermaflow", "outdoor unit"),
    ("espresso machine", "Barista", "brew group"),
    ("laser printer", "Inkline", "fuser"),
    ("electric bike", "Velora", "battery pack"),
    ("dehumidifier", "Aridia", "water tank"),
    ("pressure washer", "Jetstream", "pump head"),
    ("wireless router", "Netlink", "antenna module"),
    ("robot mower", "Greenedge", "cutting disc"),
]
_SERIES = ["HX", "TR", "KV", "ZP", "ML", "QS", "RN", "DV", "FG", "WB"]
# (meaning, action, how a user describes the symptom without the manual's words)
_FAULTS = [
    ("sensor reading out of range", "check the sensor cable and restart", "a probe reports impossible values"),
    ("motor overheated", "switch off and let it cool for 30 minutes", "the drive got too hot"),
    ("supply voltage too low", "check the mains connection", "there is not enough electricity coming in"),
    ("blocked air inlet", "clean the inlet grille", "something is clogging where the air gets sucked in"),
    ("firmware checksum error", "reinstall the firmware from the service menu", "the software is corrupted"),
    ("door or cover open", "close the cover until it clicks", "the lid is not shut"),
    ("pressure too high", "open the relief valve and call service", "it builds up too much pressure"),
    ("communication lost with the control board", "reseat the control board connector",
     "the electronics stopped talking to each other"),
]  # fmt: skip
# (task, how a user asks about it)
_TASKS = [("Clean the filter", "wash the filter"), ("Inspect the seals", "look at the gaskets"),
          ("Replace the {part}", "swap the {part} for a new one"), ("Lubricate the hinges", "oil the hinges"),
          ("Update the firmware", "install new software"), ("Check the fastening screws", "tighten the screws"),
          ("Descale the circuit", "remove limescale")]  # fmt: skip
# A Theme is what the renderer and the scan writer expect of a document; manuals fill it with their terms.
_THEME = Theme("Service Manual", "output", "W", 1, "service centre", "owners", (), (), ())


def _specifications(doc: Doc, rng: random.Random, product: str) -> Page:
    model = doc.short
    weight, power = rng.randint(8, 95) + rng.choice([0.0, 0.5]), rng.randint(4, 60) * 50
    noise, width = rng.randint(38, 72), rng.randint(30, 120) * 5
    rows = [
        ["Rated power", f"{power}", "W"],
        ["Net weight", f"{weight:.1f}", "kg"],
        ["Sound pressure level", f"{noise}", "dB(A)"],
        ["Width", f"{width}", "mm"],
        ["Operating temperature", f"{rng.randint(-20, 5)} to {rng.randint(35, 50)}", "°C"],
    ]
    paragraphs = [
        f"This section lists the technical data of the {product} {model}. Values are measured under the test "
        "conditions of the relevant standard and may vary with installation and supply.",
        "Keep this manual with the appliance. Specifications may change without notice as the product is improved.",
    ]
    chart = Chart("bar", f"Power draw by mode, {model}", "Mode", "W", ["Standby", "Eco", "Normal", "Boost"],
                  [power * f for f in (0.02, 0.45, 0.8, 1.0)])  # fmt: skip
    queries = [
        PageQuery(f"how much does the {product} weigh?", f"{weight:.1f} kg", "table"),
        PageQuery(f"How noisy is the {product} when it runs?", f"{noise} dB(A)", "table"),
    ]
    return Page("Technical Specifications", paragraphs, Table(f"Specifications of the {model}",
                ["Parameter", "Value", "Unit"], rows), chart, queries)  # fmt: skip


def _error_codes(doc: Doc, rng: random.Random, product: str, codes: set[str]) -> Page:
    model = doc.short
    faults = rng.sample(_FAULTS, 5)
    rows = []
    for meaning, action, _ in faults:
        code = next(c for c in (f"{model[:2]}-{rng.randint(10, 99)}" for _ in range(1000)) if c not in codes)
        codes.add(code)
        rows.append([code, meaning, action])
    paragraphs = [
        f"When the {product} detects a fault it stops and shows a code on the display. Look the code up "
        "below and follow the action. If a code comes back after the action, contact an authorised service centre.",
    ]
    counts = [rng.randint(2, 40) for _ in rows]
    chart = Chart("bar", "Service calls per code last year", "Code", "Calls", [r[0] for r in rows], counts)
    i = rng.randrange(len(rows))
    queries = [
        PageQuery(f"which code does the {product} show when {faults[i][2]}?", rows[i][0], "table"),
        PageQuery(
            f"what problem do {product} owners call the technicians about most often?",
            rows[counts.index(max(counts))][1],
            "chart",
        ),
    ]
    return Page("Fault Codes", paragraphs, Table(f"Fault codes of the {model}", ["Code", "Meaning", "Action"],
                rows), chart, queries)  # fmt: skip


def _maintenance(doc: Doc, rng: random.Random, product: str, part: str) -> Page:
    model = doc.short
    chosen = rng.sample(_TASKS, 5)
    tasks = [t.format(part=part) for t, _ in chosen]
    months = [rng.choice([1, 3, 6, 12, 24, 36]) for _ in tasks]
    rows = [[t, f"every {m} months" if m > 1 else "every month", rng.choice(["owner", "service technician"])]
            for t, m in zip(tasks, months, strict=True)]  # fmt: skip
    paragraphs = [
        f"Regular care keeps the {product} safe and efficient. Disconnect the power before any maintenance. "
        "Tasks marked for a service technician must not be carried out by the owner.",
    ]
    chart = Chart("line", f"Efficiency without maintenance, {model}", "Months", "% of rated output",
                  ["0", "6", "12", "18", "24"], [100, 100 - rng.randint(2, 6), 100 - rng.randint(7, 14),
                  100 - rng.randint(15, 22), 100 - rng.randint(23, 35)])  # fmt: skip
    i = rng.randrange(len(tasks))
    queries = [
        PageQuery(
            f"how frequently should I {chosen[i][1].format(part=part)} on my {product}?", rows[i][1], "table"
        ),
        PageQuery(f"{product} upkeep routine", tasks[0], "heading"),
    ]
    return Page("Maintenance Schedule", paragraphs, Table(f"Maintenance of the {model}",
                ["Task", "Interval", "Done by"], rows), chart, queries)  # fmt: skip


def _installation(doc: Doc, rng: random.Random, product: str, names: Names) -> Page:
    model = doc.short
    sides = ["Front", "Back", "Left", "Right", "Top"]
    gaps = [rng.randint(5, 60) * 10 for _ in sides]
    torque, installer = rng.randint(4, 30), names.person()
    paragraphs = [
        f"Install the {product} {model} on a level, stable surface. Leave the minimum clearances shown in the "
        f"chart for air flow and service access. Tighten the mounting bolts to {torque} Nm.",
        f"This section was approved by the installation engineer, {installer}. Installation by unqualified "
        "persons voids the warranty.",
    ]
    rows = [[s, f"{g}", "mm"] for s, g in zip(sides, gaps, strict=True)]
    chart = Chart("bar", f"Minimum clearances, {model}", "Side", "mm", sides, gaps)
    queries = [
        PageQuery(f"how tight should the bolts holding the {product} be?", f"{torque} Nm", "fact"),
        PageQuery(f"how far from the wall must the {product} stand?", f"{gaps[1]} mm", "chart"),
        PageQuery(f"who approved the guide for setting up the {product}?", installer, "fact"),
    ]
    return Page("Installation", paragraphs, Table(f"Clearances for the {model}", ["Side", "Minimum", "Unit"],
                rows), chart, queries)  # fmt: skip


def _warranty(doc: Doc, rng: random.Random, product: str, names: Names) -> Page:
    model = doc.short
    years, phone = rng.randint(2, 7), f"0{rng.randint(100, 999)} {rng.randint(100000, 999999)}"
    centre = names.place()
    rows = [["Parts", f"{years} years"], ["Labour", f"{max(1, years - rng.randint(1, 2))} years"],
            ["Extended cover", f"{years + rng.randint(2, 4)} years with registration"]]  # fmt: skip
    paragraphs = [
        f"The {product} {model} is covered against manufacturing defects from the date of purchase. Register the "
        f"product within 30 days. Repairs are handled by the service centre in {centre}, phone {phone}.",
        "The warranty does not cover wear parts, misuse, or damage caused by installation errors.",
    ]
    claims = [rng.randint(5, 60) for _ in range(4)]
    chart = Chart("line", f"Warranty claims per year, {model}", "Year", "Claims",
                  [str(doc.year - 3 + i) for i in range(4)], claims)  # fmt: skip
    queries = [
        PageQuery(f"for how long are broken components of the {product} covered?", f"{years} years", "table"),
        PageQuery(f"which town fixes a faulty {product}?", centre, "fact"),
    ]
    return Page("Warranty and Service", paragraphs, Table(f"Warranty of the {model}", ["Cover", "Period"], rows),
                chart, queries)  # fmt: skip


def plan_manuals(n_manuals: int, pages: int, rng: random.Random, names: Names) -> list[Doc]:
    """The content of `n_manuals` service manuals of up to 5 pages each (deterministic in `rng`)."""
    products = rng.sample(_PRODUCTS, len(_PRODUCTS))
    series = rng.sample(_SERIES, len(_SERIES))
    codes: set[str] = set()
    manuals = []
    for i in range(n_manuals):
        product, brand, part = products[i % len(products)]
        model = f"{series[i % len(series)]}-{rng.randint(100, 999)}"
        year = rng.randint(2019, 2024)
        title = f"{brand} {model} {product} service manual"
        doc = Doc(_THEME, f"{brand} {model}", model, year, title, slug(title), [])
        sections = [
            (_specifications, (product,)),
            (_error_codes, (product, codes)),
            (_maintenance, (product, part)),
            (_installation, (product, names)),
            (_warranty, (product, names)),
        ][: max(1, min(pages, 5))]
        doc.pages = [build(doc, rng, *args) for build, args in sections]
        manuals.append(doc)
    return manuals
