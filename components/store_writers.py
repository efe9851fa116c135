"""Who writes each of the delivery system's stores, known only once the writers exist.

The stores are declared before the roles that write them (the pipeline takes the artifact
bucket's name, the build the repository's URL), while each store's resource policy names its
writers. So the stores take these deferred lists first, and the composition root publishes
them once every writer is declared (`pulumi.deferred_output`, dependencies included): the
policies are written after their writers exist, and nothing reads a half-written list.
"""

from __future__ import annotations

from collections.abc import Callable, Sequence
from dataclasses import dataclass

import pulumi


@dataclass(frozen=True)
class StoreWriters:
    artifacts: pulumi.Output[list[str]]
    """The artifact bucket and its key: the pipeline, the build (its version artifact) and the
    reviews (their reports)."""
    reports: pulumi.Output[list[str]]
    """The reviews' reports (`reviews/` in the artifact bucket): the reviews alone."""
    application_images: pulumi.Output[list[str]]
    """The application repository: the build (the image) and the release recorders (marks)."""
    build_cache: pulumi.Output[list[str]]
    """The BuildKit registry cache: the build."""
    release_records: pulumi.Output[list[str]]
    """The release record: the release recorders."""
    administrators: pulumi.Output[list[str]]
    """Who may delete (not write) in every store, and push the build image: the deployer, who
    runs `pulumi up` (it declares the stores and, for an unprotected stack, empties them on
    `pulumi destroy`)."""

    @classmethod
    def deferred(cls, deployer: pulumi.Input[str]) -> tuple[StoreWriters, Callable[..., None]]:
        """Writer lists to be published later; the administrators (the `deployer`) now."""
        outputs = {
            name: pulumi.deferred_output() for name in ("artifacts", "reports", "images", "cache", "records")
        }

        def publish(
            *,
            pipeline_role: pulumi.Input[str],
            build_role: pulumi.Input[str],
            reviewers: Sequence[pulumi.Input[str]],
            recorders: Sequence[pulumi.Input[str]],
        ) -> None:
            lists = {
                "artifacts": [pipeline_role, build_role, *reviewers],
                "reports": list(reviewers),
                "images": [build_role, *recorders],
                "cache": [build_role],
                "records": list(recorders),
            }
            for name, writers in lists.items():
                outputs[name][1](pulumi.Output.all(*writers).apply(lambda arns: sorted(set(arns))))

        return (
            cls(
                artifacts=outputs["artifacts"][0],
                reports=outputs["reports"][0],
                application_images=outputs["images"][0],
                build_cache=outputs["cache"][0],
                release_records=outputs["records"][0],
                administrators=pulumi.Output.all(deployer).apply(list),
            ),
            publish,
        )
