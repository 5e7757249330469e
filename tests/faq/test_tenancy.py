"""Tenants cannot see each other's smart agents, leads, FAQs, documents or jobs: every such read or
action on another tenant's id is a 404, and lists hold only the caller's own."""

from __future__ import annotations

from tests.faq.conftest import Env
from tests.faq.test_extract import MARKDOWN, finished, upload

from nexus.testing import Reply


def test_tenants_cannot_see_each_others_agents_leads_faqs_or_jobs(env: Env) -> None:
    with env.client("owner-co") as owner, env.client("intruder-co", role="admin") as intruder:
        agent = owner.post(
            "/api/smart-agents",
            json={"name": "desk", "model": "writer", "faqs": [{"question": "Hours?", "answer": "9-5."}]},
        ).json()
        env.writer.push(Reply(text="9-5."))
        chat = owner.post(
            f"/api/smart-agents/{agent['id']}/chat",
            json={"session_id": "v1", "message": "I'm Ana Lima, ana@owner.example, what are your hours?"},
        )
        assert chat.status_code == 200, chat.text
        doc = finished(owner, upload(owner, "help.md", MARKDOWN.encode(), "text/markdown").json()["id"])
        assert doc["status"] == "done"
        faq_id = doc["pairs"][0]["id"]

        # The owner sees its own.
        assert [a["id"] for a in owner.get("/api/smart-agents").json()["data"]] == [agent["id"]]
        assert len(owner.get("/api/leads").json()["data"]) == 1
        assert len(owner.get("/api/faqs").json()["data"]) == 4  # the agent's pair and the document's three

        # The intruder (even an admin of its own tenant) sees nothing of it.
        for method, path, body in [
            ("GET", f"/api/smart-agents/{agent['id']}", None),
            ("DELETE", f"/api/smart-agents/{agent['id']}", None),
            ("POST", f"/api/smart-agents/{agent['id']}/chat", {"session_id": "v1", "message": "hi"}),
            ("GET", f"/api/faqs/documents/{doc['id']}", None),
            ("GET", f"/api/faqs?document_id={doc['id']}", None),
            ("GET", f"/api/jobs/{doc['job_id']}", None),
            ("PATCH", f"/api/faqs/{faq_id}", {"answer": "hijacked"}),
            ("DELETE", f"/api/faqs/{faq_id}", None),
            ("POST", f"/api/jobs/{doc['job_id']}/cancel", None),
        ]:
            r = intruder.request(method, path, json=body)
            assert r.status_code == 404, (method, path, r.text)
            assert r.json()["error"]["code"] in ("not_found", "job_not_found")
        assert intruder.get("/api/smart-agents").json()["data"] == []
        assert intruder.get("/api/leads").json()["data"] == []
        assert intruder.get(f"/api/leads?agent_id={agent['id']}").json()["data"] == []
        assert intruder.get("/api/faqs").json()["data"] == []
        assert all(faq_id not in r.text for r in [intruder.get("/api/faqs"), intruder.get("/api/jobs")])
        # Nothing of the owner's changed.
        assert owner.get(f"/api/smart-agents/{agent['id']}").status_code == 200
        assert "hijacked" not in owner.get("/api/faqs").text
        # The owner edits and deletes its own pairs.
        edited = owner.patch(f"/api/faqs/{faq_id}", json={"answer": "Edited answer."})
        assert edited.status_code == 200 and edited.json()["answer"] == "Edited answer."
        assert owner.delete(f"/api/faqs/{faq_id}").status_code == 204
        assert faq_id not in owner.get("/api/faqs").text
        assert len(owner.get("/api/leads").json()["data"]) == 1


def test_deleting_an_agent_removes_its_faqs_and_leads(env: Env) -> None:
    with env.client("del-co") as c:
        agent = c.post(
            "/api/smart-agents",
            json={"name": "gone", "model": "writer", "faqs": [{"question": "Q?", "answer": "A."}]},
        ).json()
        env.writer.push(Reply(text="A."))
        c.post(f"/api/smart-agents/{agent['id']}/chat", json={"session_id": "s", "message": "Q? I'm Bo Li"})
        assert c.delete(f"/api/smart-agents/{agent['id']}").status_code == 204
        assert c.get(f"/api/smart-agents/{agent['id']}").status_code == 404
        assert c.get("/api/leads").json()["data"] == [] and c.get("/api/faqs").json()["data"] == []
