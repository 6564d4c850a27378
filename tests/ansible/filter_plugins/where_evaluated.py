# A test aid for tests/ansible/quick_skip.yaml: the filter where_evaluated records which process
# evaluated it ("main": the controller's main process; "worker": a forked worker) and passes its
# value through, so a task's `when` can say where it was decided.
#   when: inventory_hostname | where_evaluated(log_path, 'label') == 'q1'
# Appends "<label> <value> <main|worker>" to log_path.
from __future__ import annotations

import multiprocessing


def where_evaluated(value, log_path, label):
    process = "main" if multiprocessing.parent_process() is None else "worker"
    with open(log_path, "a", encoding="utf-8") as log:
        log.write(f"{label} {value} {process}\n")
    return value


class FilterModule:
    def filters(self):
        return {"where_evaluated": where_evaluated}
