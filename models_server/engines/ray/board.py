"""Where the replicas' reports land, and how a load, unload or reload reaches every replica of a group.

Serve's router picks the replica of each call, so the ingress cannot address the replicas of a
group one by one: asking N times may ask one replica twice and another never. Each replica
posts its own report every `ray.status_interval` instead, and takes back the asks its group
owes (the latest per model, by generation). An ask waits until every replica that was live when
it was asked has carried it out, or has gone. The reports also list the requests each replica
serves, which is how the ingress knows that a request it cancelled has left its group.
"""

from __future__ import annotations

import threading
import time
from collections.abc import Callable

from models_server.engines.ray.worker import Action, GroupReport, ModelAsk
from models_server.errors import NotReady, TimedOut


def applied(report: GroupReport, model_id: str, ask: ModelAsk) -> bool:
    """The replica carried the ask out, or started after it was asked (from the config, and
    loading from disk: what a reload wants; a later load or unload asks it again)."""
    outcome = report.outcomes.get(model_id)
    return report.started > ask.asked_at or (outcome is not None and outcome.generation >= ask.generation)


class ReportBoard:
    """The replicas' last reports, kept by the ingress; the one owner of ask generations."""

    def __init__(self, stale_after: float, clock: Callable[[], float] = time.monotonic) -> None:
        self.stale_after = stale_after  # a replica silent this long (hung, or gone) is not live
        self.clock = clock
        self._posted: dict[str, dict[str, tuple[GroupReport, float]]] = {}  # group -> replica -> (report, when)
        self._asks: dict[str, dict[str, ModelAsk]] = {}  # group -> model -> its latest ask
        self._changed = threading.Condition()

    def post(self, report: GroupReport) -> dict[str, ModelAsk]:
        """Keep a replica's report; answer the asks it has yet to carry out."""
        with self._changed:
            now = self.clock()
            posted = self._posted.setdefault(report.group, {})
            posted[report.replica] = (report, now)
            for replica, (_, when) in list(posted.items()):
                if now - when > 10 * self.stale_after:  # long gone: forget it
                    del posted[replica]
            self._changed.notify_all()
            return {model_id: ask for model_id, ask in self._asks.get(report.group, {}).items()
                    if not applied(report, model_id, ask)}

    def live(self, group: str) -> list[GroupReport]:
        """The group's reports posted within `stale_after`, the freshest first."""
        with self._changed:
            return self._live(group)

    def _live(self, group: str) -> list[GroupReport]:
        now = self.clock()
        posted = sorted(self._posted.get(group, {}).values(), key=lambda pair: pair[1], reverse=True)
        return [report for report, when in posted if now - when <= self.stale_after]

    def ask(self, group: str, model_id: str, action: Action, timeout: float,
            keep_alive: float | None = None) -> list[GroupReport]:
        """Ask every live replica of `group` to load, unload or reload `model_id`, and wait until
        each has (its report then says how it went), or has stopped reporting; TimedOut past `timeout`."""
        with self._changed:
            previous = self._asks.get(group, {}).get(model_id)
            ask = ModelAsk(action=action, generation=previous.generation + 1 if previous else 1, asked_at=time.time(),
                           keep_alive=keep_alive)
            self._asks.setdefault(group, {})[model_id] = ask
            waiting = {report.replica for report in self._live(group)}
            deadline = self.clock() + timeout
            while True:
                live = {report.replica: report for report in self._live(group) if report.replica in waiting}
                pending = sorted(replica for replica, report in live.items() if not applied(report, model_id, ask))
                if not live:
                    raise NotReady(f"group {group} has no live replica to {action} {model_id} on; retry shortly",
                                   headers={"Retry-After": "5"}, state="loading")
                if not pending:
                    return list(live.values())
                remaining = deadline - self.clock()
                if remaining <= 0:
                    raise TimedOut(f"{action} {model_id}: replica(s) {', '.join(pending)} of group {group} "
                                   f"did not finish within {timeout:g}s")
                self._changed.wait(min(remaining, self.stale_after))  # also wakes to notice a replica gone quiet

    def wait_left(self, group: str, request_id: str, since: float, timeout: float) -> bool:
        """Wait until every live replica of `group` has posted after `since` (this board's clock)
        a report that does not list `request_id`: the request has left the group. False at `timeout`."""
        with self._changed:
            deadline = self.clock() + timeout
            while True:
                now = self.clock()
                posted = [pair for pair in self._posted.get(group, {}).values() if now - pair[1] <= self.stale_after]
                if all(when > since and request_id not in report.requests for report, when in posted):
                    return True
                if now >= deadline:
                    return False
                self._changed.wait(min(deadline - now, self.stale_after))
