"""Texts shipped with the library that int8 builds are checked on when the user gives none.

Varied on purpose: news of several kinds, names, places and organisations (for NER heads), numbers,
questions, short fragments and long paragraphs, so activation ranges see what real inputs bring. They are
written for this project (no dataset licence involved) and never change silently: the int8 guard's cache
key holds :data:`GUARD_TEXTS_VERSION`.
"""

from __future__ import annotations

GUARD_TEXTS_VERSION = 1

GUARD_TEXTS: tuple[str, ...] = (
    "Shares in the carmaker fell 7% on Monday after it cut its profit forecast for the year.",
    "The central bank held interest rates at 4.5%, saying inflation was still too high.",
    "Oil prices rose above $90 a barrel as producers agreed to extend output cuts.",
    "Retail sales in the UK dropped unexpectedly in March, official figures showed.",
    "The merger would create the country's largest supermarket chain, with 2,400 stores.",
    "Investors sold government bonds after the budget promised another year of heavy borrowing.",
    "Manchester United came from behind to beat Arsenal 2-1 at Old Trafford on Saturday.",
    "Serena Williams reached the semi-finals with a straight-sets win over the top seed.",
    "The England captain will miss the first two Tests with a hamstring injury.",
    "A late penalty gave Brazil a 1-0 victory and a place in the final.",
    "The marathon record fell in Berlin, where the winner finished in two hours and one minute.",
    "The Prime Minister faced angry questions in Parliament over the delayed hospital plans.",
    "Voters in three states go to the polls on Tuesday in the closely watched primaries.",
    "The European Commission proposed new rules on how tech companies handle personal data.",
    "Opposition leaders accused the government of hiding the true cost of the railway project.",
    "The minister resigned after emails showed she had misled a committee of MPs.",
    "Talks between the two countries ended without agreement on the disputed border.",
    "The film won the Golden Bear at the Berlin International Film Festival.",
    "Her debut album went straight to number one in the charts in its first week.",
    "The museum will reopen in June after a two-year, 40 million pound restoration.",
    "Critics praised the new production of Hamlet at the National Theatre in London.",
    "The singer cancelled the rest of his world tour, citing exhaustion.",
    "Apple unveiled a new iPhone with a faster chip and a better camera.",
    "Researchers at Oxford University said the vaccine was 90% effective in trials.",
    "The software update fixes a security flaw that let hackers read users' messages.",
    "Microsoft agreed to buy the games maker in a deal worth nearly 70 billion dollars.",
    "Broadband speeds in rural areas still lag far behind those in cities, a report found.",
    "The rover sent back the first colour images from the surface of Mars.",
    "Heavy rain caused flooding across northern France, closing roads and schools.",
    "Police in Manchester arrested two men after a fire at a warehouse.",
    "The airline cancelled hundreds of flights because of a strike by air traffic controllers.",
    "Scientists warned that the glacier is melting faster than any model predicted.",
    "What time does the next train to Edinburgh leave?",
    "Is the new tax rate applied to savings accounts as well?",
    "Great service, friendly staff, but the food took forever to arrive.",
    "I would not recommend this phone: the battery dies before lunch.",
    "Thanks for your help yesterday, the problem is fixed now.",
    "Terrible.",
    "Breaking news",
    "Q3 revenue: 12.4bn, up 8% year on year; operating margin 21%.",
    "John Smith, a spokesman for the United Nations in Geneva, declined to comment.",
    "Angela Merkel met Emmanuel Macron in Paris to discuss the future of the European Union.",
    "Toyota and Honda said they would build a battery plant in Ohio with LG Energy.",
    "The World Health Organization declared the outbreak in West Africa an emergency.",
    "Workers at the Ford factory in Dagenham voted to accept the pay offer.",
    "The company, founded in Seattle in 1994, now employs more than a million people worldwide, and its "
    "founder stepped down as chief executive last year to focus on space travel and his newspaper.",
    "After three days of negotiations the unions and the employers reached a deal that raises pay by "
    "5% this year and 4% next year, ends the overtime ban and sets up a review of working hours, which "
    "both sides said would be finished before the summer.",
    "The committee's report, published on Thursday, found that the project had run four years late and "
    "three times over budget, blamed weak oversight by the department and poor planning by the "
    "contractors, and recommended that no further money be spent until an independent audit had been "
    "carried out. Ministers said they would respond in full within two months.",
)

#: Questions with contexts for question-answering heads (the answer is a span of the context).
GUARD_QUESTIONS: tuple[tuple[str, str], ...] = (
    ("Who won the match?", GUARD_TEXTS[6]),
    ("What did the central bank do?", GUARD_TEXTS[1]),
    ("How much is the deal worth?", GUARD_TEXTS[25]),
    ("Where did the marathon record fall?", GUARD_TEXTS[10]),
    ("What did the rover send back?", GUARD_TEXTS[27]),
    ("Who declined to comment?", GUARD_TEXTS[40]),
    ("When was the company founded?", GUARD_TEXTS[45]),
    ("How much does pay rise this year?", GUARD_TEXTS[46]),
    ("What did the report recommend?", GUARD_TEXTS[47]),
    ("Why did the singer cancel the tour?", GUARD_TEXTS[21]),
    ("Which prize did the film win?", GUARD_TEXTS[17]),
    ("How effective was the vaccine?", GUARD_TEXTS[23]),
    ("What caused the flooding?", GUARD_TEXTS[28]),
    ("Where will the battery plant be built?", GUARD_TEXTS[42]),
    ("Who did Angela Merkel meet?", GUARD_TEXTS[41]),
    ("How many stores would the chain have?", GUARD_TEXTS[4]),
)


def guard_pairs() -> tuple[tuple[str, str], ...]:
    """Text pairs for pair-input heads (NLI, cross-encoders): each text with the next one."""
    texts = GUARD_TEXTS
    return tuple((texts[i], texts[(i + 1) % len(texts)]) for i in range(0, len(texts), 2))
