"""The content of the sample reports: organisations, names, numbers, page sections and questions.

Pure Python and deterministic in the random generator it is given; `pagefit.demo.documents` renders it.
Every person, place and firm is drawn once across the whole collection, so each question has one answer page.
"""

from __future__ import annotations

import random
from collections.abc import Callable
from dataclasses import dataclass, field
from typing import Literal

__all__ = [
    "MONTHS",
    "Chart",
    "Doc",
    "Names",
    "Page",
    "PageQuery",
    "QueryKind",
    "Table",
    "plan_documents",
    "sample_text_lines",
    "slug",
]

QueryKind = Literal["fact", "table", "chart", "heading"]

MONTHS = ["January", "February", "March", "April", "May", "June", "July", "August", "September", "October",
           "November", "December"]  # fmt: skip
_FIRST = ["Amara", "Ben", "Chloe", "Daniel", "Elena", "Farid", "Grace", "Hugo", "Ines", "Jonas", "Keiko", "Liam",
          "Maya", "Nikhil", "Olivia", "Pavel", "Quinn", "Rosa", "Samuel", "Tara", "Umar", "Vera", "Wei", "Ximena",
          "Yusuf", "Zoe", "Aiden", "Beatriz", "Carlos", "Dalia", "Emeka", "Freya", "Gustav", "Hana", "Ivan", "Julia",
          "Kofi", "Lena", "Mateo", "Noor"]  # fmt: skip
_LAST = ["Okafor", "Lindqvist", "Moreau", "Tanaka", "Haddad", "Kowalski", "Brennan", "Castillo", "Novak", "Osei",
         "Petrov", "Quist", "Rahman", "Schmidt", "Takahashi", "Umeh", "Varga", "Whitfield", "Xu", "Yilmaz", "Zhou",
         "Abbott", "Bianchi", "Chen", "Duarte", "Eriksen", "Fischer", "Gallagher", "Hoang", "Iyer", "Jansen", "Kaur",
         "Larsen", "Mendes", "Nakamura", "O'Neill", "Patel", "Rossi", "Silva", "Thorne"]  # fmt: skip
_PLACE_HEADS = ["Ash", "Brook", "Cald", "Dun", "Elm", "Fen", "Glen", "Har", "Kes", "Lin", "Mar", "Nor", "Oak",
                "Pem", "Ros", "Sand", "Thorn", "Wes"]  # fmt: skip
_PLACE_TAILS = [
    "ford",
    "more",
    "wick",
    "bury",
    "dale",
    "field",
    "haven",
    "stead",
    "ton",
    "well",
    "bridge",
    "combe",
]
_ENTITY_PREFIXES = ["Harbor Point", "Northwind", "Alder Valley", "Copperfield", "Bluestone", "Redwater", "Silverline",
                    "Granite Bay", "Maple Crest", "Eastgate", "Larkspur", "Stonebridge", "Westmoor", "Fairhaven",
                    "Oakridge", "Brightwater"]  # fmt: skip
_REGIONS = ["Northern", "Southern", "Eastern", "Western", "Central", "Coastal", "Metro", "Valley"]
_REPORT_KINDS = ["Annual Report", "Annual Review", "Operations Report", "Year in Review"]


@dataclass(frozen=True)
class Theme:
    """What one organisation does: the nouns and magnitudes its report is written with."""

    suffix: str
    metric: str
    unit: str
    scale: int
    site: str
    customers: str
    projects: tuple[str, ...]
    services: tuple[str, ...]
    departments: tuple[str, ...]


_THEMES = [
    Theme("Energy", "electricity generated", "GWh", 900, "wind farm", "customers",
           ("substation", "battery storage site", "transmission line", "solar array"),
           ("billing", "outage response", "new connections", "customer helpline"),
           ("Generation", "Grid Operations", "Customer Service", "Engineering", "Finance")),
    Theme("Water Authority", "water treated", "million litres", 4000, "treatment plant", "households",
           ("reservoir upgrade", "pumping station", "pipeline renewal", "filtration unit"),
           ("water quality", "leak repairs", "billing", "customer helpline"),
           ("Treatment", "Network Maintenance", "Laboratory", "Customer Service", "Finance")),
    Theme("Transit", "passenger trips", "thousand", 2500, "bus depot", "passengers",
           ("tram extension", "depot expansion", "park-and-ride", "signal upgrade"),
           ("punctuality", "cleanliness", "ticketing", "accessibility"),
           ("Operations", "Fleet Maintenance", "Planning", "Customer Service", "Finance")),
    Theme("Health", "patients treated", "thousand", 300, "clinic", "patients",
           ("imaging centre", "day surgery unit", "emergency wing", "rehabilitation ward"),
           ("appointments", "waiting times", "nursing care", "discharge support"),
           ("Nursing", "Surgery", "Diagnostics", "Administration", "Finance")),
    Theme("Tourism Board", "visitors", "thousand", 1200, "visitor centre", "visitors",
           ("harbour promenade", "heritage trail", "conference hall", "cycle route"),
           ("information desks", "events", "signage", "online booking"),
           ("Marketing", "Events", "Visitor Services", "Research", "Finance")),
    Theme("Foods", "units shipped", "thousand cases", 1500, "bakery plant", "retail partners",
           ("cold store", "packaging line", "distribution hub", "test kitchen"),
           ("order accuracy", "delivery times", "product quality", "account support"),
           ("Production", "Quality Assurance", "Logistics", "Sales", "Finance")),
    Theme("Logistics", "freight volume", "thousand tonnes", 800, "distribution centre", "shippers",
           ("rail terminal", "cross-dock", "fleet yard", "automated warehouse"),
           ("on-time delivery", "tracking", "claims handling", "account support"),
           ("Warehousing", "Transport", "Customs", "Sales", "Finance")),
    Theme("Library Service", "loans", "thousand", 600, "branch library", "members",
           ("reading room", "digital archive", "makerspace", "children's wing"),
           ("opening hours", "book availability", "study spaces", "online catalogue"),
           ("Lending", "Digital Services", "Outreach", "Facilities", "Finance")),
]  # fmt: skip


@dataclass
class Table:
    title: str
    header: list[str]
    rows: list[list[str]]


@dataclass
class Chart:
    kind: Literal["bar", "line"]
    title: str
    xlabel: str
    ylabel: str
    labels: list[str]
    values: list[float]


@dataclass
class PageQuery:
    query: str
    answer: str
    kind: QueryKind


@dataclass
class Page:
    heading: str
    paragraphs: list[str]
    table: Table
    chart: Chart
    queries: list[PageQuery]


@dataclass
class Doc:
    theme: Theme
    entity: str
    short: str
    year: int
    title: str
    stem: str
    regions: list[str]
    pages: list[Page] = field(default_factory=list)


class Names:
    """Draws people, places and firms, each used once across the whole collection so facts stay unique."""

    def __init__(self, rng: random.Random) -> None:
        self.rng = rng
        self.used: set[str] = set()

    def _unique(self, make: Callable[[], str]) -> str:
        for _ in range(10_000):
            value = make()
            if value not in self.used:
                self.used.add(value)
                return value
        raise RuntimeError("name pool exhausted")

    def person(self) -> str:
        return self._unique(lambda: f"{self.rng.choice(_FIRST)} {self.rng.choice(_LAST)}")

    def place(self) -> str:
        return self._unique(lambda: self.rng.choice(_PLACE_HEADS) + self.rng.choice(_PLACE_TAILS))

    def firm(self) -> str:
        kinds = ["Research", "Insights", "Analytics", "Surveys"]
        return self._unique(lambda: f"{self.rng.choice(_LAST)} {self.rng.choice(kinds)}")


def _money(millions: float) -> str:
    return f"${millions:,.1f} million"


def _num(value: float) -> str:
    return f"{round(value):,}"


def _possessive(name: str) -> str:
    return f"{name}'" if name.endswith("s") else f"{name}'s"


def _years(last: int, n: int) -> list[str]:
    return [str(last - n + 1 + i) for i in range(n)]


@dataclass
class _Ctx:
    """Everything a section builder needs to write one page."""

    doc: Doc
    year: int
    rng: random.Random
    names: Names

    @property
    def t(self) -> Theme:
        return self.doc.theme

    def around(self, scale: float, spread: float = 0.25) -> float:
        return scale * (1 + self.rng.uniform(-spread, spread))

    def ask(self, *phrasings: str) -> str:
        """One of several phrasings of a question, as different users would type it."""
        return self.rng.choice(phrasings)


def _overview(c: _Ctx) -> Page:
    t, e, y = c.t, c.doc.entity, c.year
    ceo, hq = c.names.person(), c.names.place()
    series = [c.around(t.scale, 0.2) for _ in range(5)]
    staff, sites, served = round(c.around(1800)), c.rng.randint(6, 24), round(c.around(t.scale * 90))
    change = (series[-1] / series[-2] - 1) * 100
    paragraphs = [
        f"{e} is headquartered in {hq}. In {y} it served {_num(served)} {t.customers} through {sites} sites, "
        f"including its largest {t.site}, and employed {_num(staff)} people. Total {t.metric} reached "
        f"{_num(series[-1])} {t.unit}, {'up' if change >= 0 else 'down'} {abs(change):.1f}% on {y - 1}.",
        f"Chief executive {ceo} said the year was shaped by higher demand, tighter budgets and the first results "
        "of the five-year investment plan. This report sets out performance by region, finances, sites, "
        "workforce, projects, customer satisfaction, environmental results and governance.",
    ]
    past = [lambda v, s=s: _num(v * c.around(1, s)) for s in (0.08, 0.06)]
    rows = [
        [f"{t.metric.capitalize()} ({t.unit})", *(_num(v) for v in series[1:])],
        [f"{t.customers.capitalize()} served", *(past[0](served) for _ in range(3)), _num(served)],
        ["Employees", *(past[1](staff) for _ in range(3)), _num(staff)],
    ]
    table = Table(f"Table 1. Key figures, {y - 3}-{y}", ["Indicator", *_years(y, 4)], rows)
    chart = Chart("line", f"{t.metric.capitalize()}, {y - 4}-{y}", "Year", t.unit, _years(y, 5), series)
    queries = [
        PageQuery(
            c.ask(f"who was the chief executive of {e} in {y}?", f"Who led {e} as CEO in {y}?"), ceo, "fact"
        ),
        PageQuery(
            c.ask(f"What was the total for {t.metric} at {e} in {y}?", f"{e} total {t.metric} {y}"),
            _num(series[-1]),
            "table",
        ),
        PageQuery(f"Where is {e} headquartered?", hq, "fact"),
    ]
    return Page("Overview", paragraphs, table, chart, queries)


def _regional(c: _Ctx) -> Page:
    t, e, y, regions = c.t, c.doc.entity, c.year, c.doc.regions
    cells = [[c.around(t.scale / 4 / len(regions), 0.35) for _ in range(4)] for _ in regions]
    totals = [sum(row) for row in cells]
    best, worst = regions[totals.index(max(totals))], regions[totals.index(min(totals))]
    manager = c.names.person()
    cause = c.rng.choice(
        ["severe weather in the first quarter", "a long maintenance shutdown", "staff shortages"]
    )
    paragraphs = [
        f"The {best} region recorded the highest {t.metric} in {y}, while the {worst} region trailed after "
        f"{cause}. Quarterly results below are in {t.unit}.",
        f"Regional operations director {manager} said that the gap between regions narrowed in the second half "
        f"of the year as new {t.site} capacity came online and scheduling improved.",
    ]
    rows = [[r, *(_num(v) for v in row)] for r, row in zip(regions, cells, strict=True)]
    table = Table(
        f"Table 2. {t.metric.capitalize()} by region and quarter, {y} ({t.unit})",
        ["Region", "Q1", "Q2", "Q3", "Q4"],
        rows,
    )
    chart = Chart("bar", f"{t.metric.capitalize()} by region, {y}", "Region", t.unit, regions, totals)
    r, q = c.rng.randrange(len(regions)), c.rng.randrange(4)
    queries = [
        PageQuery(
            f"What was the {t.metric} figure for the {regions[r]} region of {e} in Q{q + 1} {y}?",
            _num(cells[r][q]),
            "table",
        ),
        PageQuery(
            c.ask(
                f"Which region of {e} had the highest {t.metric} in {y}?", f"best performing region {e} {y}"
            ),
            best,
            "chart",
        ),
        PageQuery(f"Who is the regional operations director at {e}?", manager, "fact"),
    ]
    return Page("Regional Performance", paragraphs, table, chart, queries)


def _finance(c: _Ctx) -> Page:
    e, y = c.doc.entity, c.year
    revenue = c.around(c.t.scale / 3)
    weights = {"Staff": 0.38, "Energy": 0.12, "Maintenance": 0.16, "IT systems": 0.07, "Other": 0.09}
    costs = {k: revenue * c.around(w, 0.3) for k, w in weights.items()}
    capex, cfo = c.around(revenue * 0.2), c.names.person()
    largest = max(costs, key=costs.__getitem__)
    items = [("Revenue", revenue), ("Operating costs", sum(costs.values())), ("Capital spending", capex)]
    rows = [[k, *(f"{v * c.around(1, 0.1):,.1f}" for _ in range(2)), f"{v:,.1f}"] for k, v in items]
    paragraphs = [
        f"Revenue for {y} was {_money(revenue)}. Operating costs totalled {_money(sum(costs.values()))}, of "
        f"which {largest.lower()} was the largest item, and capital spending reached {_money(capex)}.",
        f"Chief financial officer {cfo} noted that reserves remain above the board's minimum and that the "
        f"tariff review planned for {y + 1} will be presented with next year's budget.",
    ]
    table = Table(f"Table 3. Financial summary, {y - 2}-{y} (USD million)", ["Item", *_years(y, 3)], rows)
    chart = Chart(
        "bar",
        f"Operating costs by category, {y}",
        "Category",
        "USD million",
        list(costs),
        list(costs.values()),
    )
    queries = [
        PageQuery(
            c.ask(f"What was {_possessive(e)} revenue in {y}?", f"how much revenue did {e} make in {y}"),
            _money(revenue),
            "fact",
        ),
        PageQuery(f"What was the biggest operating cost category for {e} in {y}?", largest, "chart"),
        PageQuery(f"Who is {_possessive(e)} chief financial officer?", cfo, "fact"),
    ]
    return Page("Financial Summary", paragraphs, table, chart, queries)


def _sites(c: _Ctx) -> Page:
    t, e, y = c.t, c.doc.entity, c.year
    sites = [
        (c.names.place(), c.names.person(), round(c.around(t.scale / 8)), c.rng.randint(y - 30, y))
        for _ in range(5)
    ]
    newest = max(sites, key=lambda s: s[3])
    paragraphs = [
        f"{e} operates {len(sites)} main sites. The newest {t.site}, in {newest[0]}, opened in {newest[3]} "
        f"and is managed by {newest[1]}. Capacity figures are annual, in {t.unit}.",
        "Two older sites will be refurbished over the next three years; work is scheduled so that no "
        f"region loses more than one {t.site} at a time.",
    ]
    rows = [[f"{p} {t.site}", m, _num(cap), str(op)] for p, m, cap, op in sites]
    table = Table(
        f"Table 4. Main sites of {c.doc.short}, {y}",
        ["Site", "Manager", f"Capacity ({t.unit})", "Opened"],
        rows,
    )
    chart = Chart(
        "bar", f"Capacity by site, {y}", "Site", t.unit, [s[0] for s in sites], [s[2] for s in sites]
    )
    place, manager, _, opened = c.rng.choice(sites)
    queries = [
        PageQuery(
            c.ask(f"Who manages the {place} {t.site}?", f"manager of {_possessive(e)} {t.site} in {place}"),
            manager,
            "table",
        ),
        PageQuery(f"When did the {place} {t.site} open?", str(opened), "table"),
    ]
    return Page("Sites and Facilities", paragraphs, table, chart, queries)


def _workforce(c: _Ctx) -> Page:
    t, e, y = c.t, c.doc.entity, c.year
    heads = [round(c.around(300, 0.6)) for _ in t.departments]
    hr, hours = c.names.person(), c.rng.randint(12, 48)
    paragraphs = [
        f"Each employee received on average {hours} hours of training in {y}. Staff turnover was "
        f"{c.rng.uniform(6, 15):.1f}%, and {c.rng.randint(40, 160)} apprentices joined the organisation.",
        f"People director {hr} leads the new flexible working policy, which was agreed with staff "
        f"representatives in {c.rng.choice(MONTHS)} {y}.",
    ]
    rows = [
        [d, _num(h), f"{c.rng.uniform(25, 70):.0f}", f"{c.rng.uniform(3, 14):.1f}"]
        for d, h in zip(t.departments, heads, strict=True)
    ]
    table = Table(
        f"Table 5. Workforce by department, {y}",
        ["Department", "Headcount", "Women (%)", "Average tenure (years)"],
        rows,
    )
    chart = Chart(
        "bar", f"Headcount by department, {y}", "Department", "Employees", list(t.departments), heads
    )
    d = c.rng.randrange(len(heads))
    queries = [
        PageQuery(f"How many people work in {t.departments[d]} at {e}?", _num(heads[d]), "table"),
        PageQuery(
            c.ask(
                f"How many hours of training did {e} staff get in {y}?",
                f"{e} training hours per employee {y}",
            ),
            str(hours),
            "fact",
        ),
    ]
    return Page("Workforce", paragraphs, table, chart, queries)


def _projects(c: _Ctx) -> Page:
    t, e, y = c.t, c.doc.entity, c.year
    projects = [
        (f"{c.names.place()} {kind}", round(c.around(t.scale / 40), 1), c.rng.randint(y, y + 4))
        for kind in t.projects
    ]
    (done, cost, _), lead = projects[0], c.names.person()
    paragraphs = [
        f"Construction of the {done} was completed in {c.rng.choice(MONTHS)} {y} at a cost of {_money(cost)}, "
        f"under the supervision of project director {lead}. The other projects in the table are on schedule.",
        f"Budgets below include design, land and contingency. The board reviews each project above "
        f"{_money(5)} every quarter.",
    ]
    rows = [[name, f"{budget:.1f}", str(year)] for name, budget, year in projects]
    table = Table(f"Table 6. Capital projects, {y}", ["Project", "Budget (USD million)", "Completion"], rows)
    chart = Chart(
        "bar",
        f"Capital project budgets, {y}",
        "Project",
        "USD million",
        [p[0].split()[0] for p in projects],
        [p[1] for p in projects],
    )
    other, _, finish = c.rng.choice(projects[1:])
    queries = [
        PageQuery(
            c.ask(f"How much did the {done} cost?", f"what did {e} spend building the {done}"),
            _money(cost),
            "fact",
        ),
        PageQuery(f"Who supervised construction of the {done}?", lead, "fact"),
        PageQuery(f"When is the {other} expected to be finished?", str(finish), "table"),
    ]
    return Page("Capital Projects", paragraphs, table, chart, queries)


def _satisfaction(c: _Ctx) -> Page:
    t, e, y = c.t, c.doc.entity, c.year
    firm, n = c.names.firm(), c.rng.randint(800, 5000)
    scores = [[round(c.rng.uniform(5.5, 9.2), 1) for _ in range(2)] for _ in t.services]
    paragraphs = [
        f"{firm} surveyed {_num(n)} {t.customers} for {e} in {c.rng.choice(MONTHS)} {y}. Scores are out of "
        "10. Satisfaction improved for most services; complaints fell after new online forms were introduced.",
        "Comments most often mentioned clear communication and the speed of follow-up, and the lowest scores "
        "were linked to peak-time waiting.",
    ]
    services = [s.capitalize() for s in t.services]
    rows = [[s, f"{a:.1f}", f"{b:.1f}"] for s, (a, b) in zip(services, scores, strict=True)]
    table = Table(
        "Table 7. Customer satisfaction by service (score out of 10)", ["Service", str(y - 1), str(y)], rows
    )
    chart = Chart(
        "bar", f"Satisfaction by service, {y}", "Service", "Score (0-10)", services, [s[1] for s in scores]
    )
    s = c.rng.randrange(len(scores))
    queries = [
        PageQuery(
            f"What satisfaction score did {e} get for {t.services[s]} in {y}?", f"{scores[s][1]:.1f}", "table"
        ),
        PageQuery(
            c.ask(f"Which company ran the {y} customer survey for {e}?", f"{e} survey firm {y}"), firm, "fact"
        ),
    ]
    return Page("Customer Satisfaction", paragraphs, table, chart, queries)


def _environment(c: _Ctx) -> Page:
    e, y = c.doc.entity, c.year
    series = sorted((c.around(42_000, 0.3) for _ in range(5)), reverse=True)
    target_year, target = y + 5, round(series[-1] * c.rng.uniform(0.4, 0.7), -2)
    sources = ["Electricity", "Vehicles", "Heating", "Waste"]
    shares = [c.rng.uniform(0.15, 0.45) for _ in sources]
    shares = [w / sum(shares) for w in shares]
    paragraphs = [
        f"Greenhouse gas emissions fell to {_num(series[-1])} tonnes CO2e in {y}. {e} has set a target of "
        f"{_num(target)} tonnes by {target_year}, supported by renewable power contracts and fleet "
        "electrification.",
        "Water use and waste to landfill are reported in the sustainability annex; both are audited by "
        "an external verifier every year.",
    ]
    rows = [[s, _num(series[-1] * w), f"{100 * w:.0f}"] for s, w in zip(sources, shares, strict=True)]
    table = Table(f"Table 8. Emissions by source, {y} (tonnes CO2e)", ["Source", "Tonnes", "Share (%)"], rows)
    chart = Chart(
        "line", f"Greenhouse gas emissions, {y - 4}-{y}", "Year", "Tonnes CO2e", _years(y, 5), series
    )
    queries = [
        PageQuery(
            c.ask(
                f"What emissions target has {e} set for {target_year}?", f"{e} carbon target {target_year}"
            ),
            _num(target),
            "fact",
        ),
        PageQuery(
            f"Where does {e} report its greenhouse gas emissions for {y}?",
            "Environmental Performance",
            "heading",
        ),
    ]
    return Page("Environmental Performance", paragraphs, table, chart, queries)


def _outlook(c: _Ctx) -> Page:
    t, e, y = c.t, c.doc.entity, c.year
    forecast, budget = c.around(t.scale * 1.05, 0.1), c.around(t.scale / 10)
    risks = ["Cyber attack", "Supply chain delay", "Extreme weather", "Skills shortage", "Regulatory change"]
    owners = [c.names.person() for _ in risks]
    paragraphs = [
        f"For {y + 1}, {e} expects {t.metric} of about {_num(forecast)} {t.unit} and plans to invest "
        f"{_money(budget)}. The main uncertainties are listed in the risk register below.",
        "Each risk has an owner on the executive team, and the audit committee reviews the register twice a year.",
    ]
    levels = (["Low", "Medium", "High"], ["Medium", "High", "Severe"])
    rows = [
        [r, c.rng.choice(levels[0]), c.rng.choice(levels[1]), o] for r, o in zip(risks, owners, strict=True)
    ]
    table = Table(f"Table 9. Principal risks, {y}", ["Risk", "Likelihood", "Impact", "Owner"], rows)
    values = [c.around(t.scale, 0.1) for _ in range(3)] + [forecast]
    chart = Chart(
        "line",
        f"{t.metric.capitalize()}: actual and forecast",
        "Year",
        t.unit,
        [*_years(y, 3), f"{y + 1} (f)"],
        values,
    )
    r = c.rng.randrange(len(risks))
    queries = [
        PageQuery(f"What {t.metric} does {e} forecast for {y + 1}?", _num(forecast), "fact"),
        PageQuery(f"Who owns the {risks[r].lower()} risk at {e}?", owners[r], "table"),
    ]
    return Page("Risks and Outlook", paragraphs, table, chart, queries)


def _governance(c: _Ctx) -> Page:
    e, y, meetings = c.doc.entity, c.year, 11
    roles = ["Chair", "Vice chair", "Non-executive director", "Non-executive director", "Chief executive"]
    members = [(c.names.person(), role, c.rng.randint(y - 12, y - 1), c.rng.randint(6, 11)) for role in roles]
    paragraphs = [
        f"The board met {meetings} times in {y} under the chair, {members[0][0]}. Attendance for each member "
        "is shown in the chart; the audit and remuneration committees met four times each.",
        "Directors declare their interests at every meeting, and the register of interests is published online.",
    ]
    rows = [[n, r, str(s), f"{a} of {meetings}"] for n, r, s, a in members]
    table = Table(
        f"Table 10. Board of directors, {y}", ["Name", "Role", "Member since", "Meetings attended"], rows
    )
    chart = Chart(
        "bar",
        f"Board meeting attendance, {y}",
        "Director",
        "Meetings attended",
        [m[0].split()[-1] for m in members],
        [m[3] for m in members],
    )
    name, _, since, _ = c.rng.choice(members[1:])
    queries = [
        PageQuery(c.ask(f"Who chairs the board of {e}?", f"{e} board chair"), members[0][0], "fact"),
        PageQuery(f"Since when has {name} been on the board of {e}?", str(since), "table"),
    ]
    return Page("Governance", paragraphs, table, chart, queries)


_BOILERPLATE = [
    "Figures for {y} are unaudited where marked and may be restated in the next report. Comparisons with "
    "{py} use the same definitions of {m} and of {c} served as last year.",
    "Across its sites, {short} follows one reporting calendar: quarterly results are published six weeks after "
    "each quarter ends and summarised in this report.",
    "Further detail on {section} is available on request from the {e} planning office, together with the "
    "underlying data tables.",
    "Numbers in this section are rounded, so totals may not add up exactly. The methodology note at the end of "
    "the report explains how each indicator is measured.",
]


def _boilerplate(c: _Ctx, section: str) -> str:
    """A generic paragraph shared by many pages: realistic filler that makes pages look alike."""
    return c.rng.choice(_BOILERPLATE).format(
        y=c.year,
        py=c.year - 1,
        m=c.t.metric,
        c=c.t.customers,
        short=c.doc.short,
        e=c.doc.entity,
        section=section.lower(),
    )


_SECTIONS = [_overview, _regional, _finance, _sites, _workforce, _projects, _satisfaction, _environment, _outlook,
             _governance]  # fmt: skip


def slug(text: str) -> str:
    return "-".join("".join(ch if ch.isalnum() else " " for ch in text.lower()).split())


def plan_documents(n_docs: int, pages_per_doc: int, rng: random.Random, names: Names) -> list[Doc]:
    """The content of every report (no rendering): deterministic in the state of `rng`."""
    themes = rng.sample(_THEMES, len(_THEMES))
    prefixes = rng.sample(_ENTITY_PREFIXES, len(_ENTITY_PREFIXES))
    docs = []
    for i in range(n_docs):
        theme = themes[i % len(themes)]
        short = prefixes[i % len(prefixes)] + (f" {i // len(prefixes) + 1}" if i >= len(prefixes) else "")
        entity, year = f"{short} {theme.suffix}", rng.randint(2019, 2024)
        title = f"{entity} {rng.choice(_REPORT_KINDS)} {year}"
        doc = Doc(theme, entity, short, year, title, slug(title), sorted(rng.sample(_REGIONS, 5)))
        for p in range(pages_per_doc):
            # Past ten pages the sections repeat for earlier years: keep the questions that name the year,
            # so each stays answerable by one page.
            ctx = _Ctx(doc, year - p // len(_SECTIONS), rng, names)
            page = _SECTIONS[p % len(_SECTIONS)](ctx)
            page.paragraphs.append(_boilerplate(ctx, page.heading))
            if p >= len(_SECTIONS):
                page.heading = f"{page.heading} ({ctx.year})"
                page.queries = [q for q in page.queries if str(ctx.year) in q.query] or page.queries
            doc.pages.append(page)
        docs.append(doc)
    return docs


def sample_text_lines(n_docs: int = 8, pages_per_doc: int = 10, seed: int = 0) -> list[str]:
    """The text of the sample reports without rendering them (e.g. to train a small test tokenizer)."""
    lines = []
    rng = random.Random(seed)
    for doc in plan_documents(n_docs, pages_per_doc, rng, Names(rng)):
        lines.append(doc.title)
        for page in doc.pages:
            lines += [
                page.heading,
                *page.paragraphs,
                page.table.title,
                page.chart.title,
                " ".join(page.table.header),
            ]
            lines += [" ".join(row) for row in page.table.rows]
            lines += [q.query for q in page.queries]
    return lines
