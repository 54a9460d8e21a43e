"""A small Python client for mixsweepd, for notebooks and scripts.

Submit a sweep spec, follow its progress, and fetch its estimates, results
and trials as plain records (lists of flat dicts) that ``pandas.DataFrame``
takes as they are::

    import pandas as pd
    from mixsweep_client import Client

    with Client("127.0.0.1:50051", token_file="alice.token") as c:
        sweep = c.submit_spec("docs/examples/pick_dual_bottles.yaml")
        for p in c.follow(sweep["sweep_id"], timeout=3600):
            print(f'{p["fraction_done"]:.0%} {p["state"]}')
        etas = pd.DataFrame(c.estimates(sweep["sweep_id"]))
        trials = pd.DataFrame(c.trials(sweep["sweep_id"]))

The generated stubs (package ``mixsweep.v1``) must be on ``sys.path``; see
clients/python/README.md.
"""

from mixsweep_client.client import Client, FollowTimeout, MixsweepError, spec_text
from mixsweep_client import records

__all__ = ["Client", "FollowTimeout", "MixsweepError", "records", "spec_text"]
