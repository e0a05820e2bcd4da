"""A small knowledge base with questions whose answers are known, for bench/answer_quality.py.

The documents are the sample documents of samples/ plus the ones below, written like a small company's
handbook, an IT page and a product's configuration reference. Each question names a string the answer must
contain (a value, a place, a rule); off-topic questions must be answered "not covered", with no sources.
Questions use other words than the documents where a person would ("vacation" for "paid holiday").
"""

from pathlib import Path

SAMPLES = Path(__file__).resolve().parent.parent / "samples"

DOCUMENTS = {
    "Employee handbook": """# Employee handbook

## Time off

Every employee is entitled to 25 days of paid holiday per calendar year. Part-time staff receive a share in
proportion to their contracted hours. Up to five unused days may be carried over into the first quarter of
the next year; any further days expire on 31 March.

Holiday requests are made in the HR portal at least two weeks ahead and approved by your line manager.

## Sick leave

If you are ill, tell your manager before 10:00 on the first day. A doctor's certificate is needed from the
fourth consecutive day of absence. Sick days do not reduce your holiday allowance.

## Parental leave

Parents may take up to 16 weeks of paid parental leave within the first year after a birth or adoption.
""",
    "Travel and expenses": """# Travel and expenses

Book train journeys under four hours instead of flights. Economy class is the rule for flights; business
class needs the approval of a director.

Hotel costs are refunded up to 150 euros per night in capital cities and 110 euros elsewhere.

Submit expense claims in the finance app within 30 days of the trip, with a photo of every receipt.
Claims are paid with the next monthly salary. The daily meal allowance is 35 euros.
""",
    "IT help": """# IT help

The IT service desk is on the second floor, room 2.14, and answers on extension 4400 from 8:00 to 18:00.

Passwords must be at least 14 characters long and are changed every 12 months. Never share your password,
not even with IT staff.

A lost or stolen laptop must be reported to the service desk within 24 hours. Laptops are replaced every
four years. The guest Wi-Fi network is called Visitors and its password changes every Monday.
""",
    "Widget server configuration": """# Widget server configuration

The server reads its settings from environment variables at start-up.

| variable | default | meaning |
|---|---|---|
| `WIDGET_PORT` | 8080 | TCP port the server listens on |
| `WIDGET_WORKERS` | 4 | worker processes |
| `WIDGET_TIMEOUT` | 30 | seconds before a request is cancelled |
| `WIDGET_CACHE_SIZE` | 512 | megabytes of memory for the result cache |

The default weight value is 50; a widget's weight decides its place in lists, heavier widgets last. Weights
range from 1 to 100.

Logs are written to /var/log/widget/server.log and rotated daily; 14 days of logs are kept.
""",
}

# (question, a string the answer must contain); None: not covered by the knowledge base.
QUESTIONS: list[tuple[str, str | None]] = [
    ("How much vacation do I get?", "25 days"),
    ("How many days of holiday can I carry over to next year?", "five"),
    ("When do carried-over holidays expire?", "31 March"),
    ("How do I request time off?", "HR portal"),
    ("When do I need a doctor's note when I'm sick?", "fourth"),
    ("How long is parental leave?", "16 weeks"),
    ("Can I fly business class?", "director"),
    ("What is the hotel limit in a capital city?", "150 euros"),
    ("How long do I have to submit an expense claim?", "30 days"),
    ("What is the meal allowance per day?", "35 euros"),
    ("Where is the IT service desk?", "2.14"),
    ("What is the phone number of IT support?", "4400"),
    ("How long must a password be?", "14 characters"),
    ("What do I do if my laptop is stolen?", "hour"),
    ("What is the default port of the widget server?", "8080"),
    ("How many workers does the widget server start by default?", "4"),
    ("What is the default weight value?", "50"),
    ("Where are the widget server logs?", "/var/log/widget/server.log"),
    ("How long are logs kept?", "14 days"),
    ("How much coffee goes into an espresso?", "18 grams"),
    ("What water temperature is best for espresso?", "90 and 96"),
    ("What should I do if my espresso tastes sour?", "finer"),
    ("How long do roasted beans stay fresh?", "four weeks"),
    ("How big are chunks?", "800 tokens"),
    ("Which file formats can I upload?", "PDF"),
    ("Is there a limit on upload size?", "20 MB"),
    ("Who can see my chat sessions?", "private"),
    ("How long should I boil an egg for a soft yolk?", None),
    ("Who won the football world cup in 1998?", None),
    ("What is the capital city of Australia?", None),
    ("How do I train my puppy to sit?", None),
    ("What are the symptoms of the flu in children?", None),
    ("How do I change a flat tyre on a bicycle?", None),
    ("Which wine goes well with grilled salmon?", None),
    ("What is the plot of Hamlet?", None),
]


def documents() -> dict[str, str]:
    """Title -> text of every document of the bench's knowledge base."""
    samples = {path.stem.replace("-", " ").capitalize(): path.read_text() for path in sorted(SAMPLES.iterdir())}
    return {**samples, **DOCUMENTS}
