"""A smart agent answers from its FAQs with citations, and gathers a lead over a conversation: three
messages, each adding to it, none erasing what an earlier one gave."""

from __future__ import annotations

from tests.faq.conftest import Env

from nexus.testing import Reply

FAQS = [
    {"question": "Which payment methods do you accept?", "answer": "Visa, Mastercard and SEPA transfer."},
    {"question": "How long does shipping take?", "answer": "Three to five working days in the EU."},
    {"question": "Can I return an item?", "answer": "Yes, within 30 days, free of charge."},
]


def test_answers_from_its_faqs_with_citations_and_accumulates_a_lead(env: Env) -> None:
    with env.client("shop") as c:
        r = c.post(
            "/api/smart-agents",
            json={
                "name": "helper",
                "system_prompt": "You are the Shop's assistant.",
                "model": "writer",
                "faqs": FAQS,
            },
        )
        assert r.status_code == 201, r.text
        agent = r.json()
        ids = {f["question"]: f["id"] for f in agent["faqs"]}
        pay = ids["Which payment methods do you accept?"]
        ship = ids["How long does shipping take?"]

        def say(msg: str, reply: str) -> dict:
            env.writer.push(Reply(text=reply))
            out = c.post(
                f"/api/smart-agents/{agent['id']}/chat", json={"session_id": "visit-1", "message": msg}
            )
            assert out.status_code == 200, out.text
            return dict(out.json())

        first = say(
            "Hi, I'm Zoë O'Brien from Acme Widgets Ltd. Which payment methods do you accept?",
            f"We take Visa, Mastercard and SEPA transfer [{pay}].",
        )
        # The model was given the matching FAQ (with its id) and the agent's prompt.
        system = env.writer.requests[-1].json["messages"][0]["content"]
        assert system.startswith("You are the Shop's assistant.")
        assert f"[{pay}] Q: Which payment methods do you accept?" in system
        assert first["answer"].startswith("We take Visa")
        assert first["citations"] == [pay]
        assert first["lead"] == {
            "name": "Zoë O'Brien",
            "email": None,
            "phone": None,
            "company": "Acme Widgets Ltd.",
            "intent": None,
        }

        second = say(
            "How long does shipping take to Dublin? Mail me at zoe.obrien+orders@Acme.IE",
            "Three to five working days in the EU.",
        )
        assert second["citations"] == [ship]  # cited nothing: the FAQ it was given
        assert second["lead"]["email"] == "zoe.obrien+orders@acme.ie"
        assert second["lead"]["name"] == "Zoë O'Brien"  # kept

        third = say("Great, I'd like a quote for 200 units. Call me on +353 1 234 5678.", "Happy to help!")
        assert third["lead"] == {
            "name": "Zoë O'Brien",
            "email": "zoe.obrien+orders@acme.ie",
            "phone": "+35312345678",
            "company": "Acme Widgets Ltd.",
            "intent": "purchase",
        }
        # The conversation so far went with the third message (memory per session).
        sent = [m["content"] for m in env.writer.requests[-1].json["messages"]]
        assert sent[1].startswith("Hi, I'm Zoë") and sent[-1].startswith("Great, I'd like a quote")

        leads = c.get("/api/leads").json()["data"]
        assert len(leads) == 1 and leads[0]["messages"] == 3
        assert leads[0]["phone"] == "+35312345678" and leads[0]["agent_id"] == agent["id"]
        as_csv = c.get("/api/leads", params={"format": "csv"}).text
        assert "zoe.obrien+orders@acme.ie" in as_csv and as_csv.startswith("id,agent_id,session_id,name")


def test_a_message_no_faq_covers_gets_no_citation(env: Env) -> None:
    with env.client("shop2") as c:
        agent = c.post("/api/smart-agents", json={"name": "h", "model": "writer", "faqs": FAQS}).json()
        env.writer.push(Reply(text="I'm not sure; shall I put you in touch?"))
        r = c.post(
            f"/api/smart-agents/{agent['id']}/chat",
            json={"session_id": "s", "message": "Do you sell gift cards?"},
        )
        assert r.status_code == 200, r.text
        assert r.json()["citations"] == []
        assert "No FAQ covers this message" in env.writer.requests[-1].json["messages"][0]["content"]
