"""The loss audit: how much the KL term weighs in a run's loss, relative to the textbook ELBO.

The textbook negative ELBO of one image is  sum over pixels of -log p(x|z)  +  KL(q(z|x) || p(z)):
the KL weighs 1 against the reconstruction summed over the P pixels. The report's reduction sums
over the batch the *mean* over pixels of the cross-entropy and adds the batch mean of the KL, so,
divided by B / P to put the reconstruction on the textbook's scale, its KL weighs beta * P / B:
6.125 for the report's batch of 128 images of 784 pixels (8.17 on the last batch of an epoch, 96
images). The `elbo` reduction weighs it beta. Every run records this (config.json, summary.json)
and `train` prints it in its first line, so that nobody has to derive it again.

Pure arithmetic: no TensorFlow.
"""

from __future__ import annotations


def loss_audit(regularizer: str, reduction: str, beta: float, batch_size: int, image_size: int,
               train_images: int | None = None, beta_schedule: str = "constant") -> dict:
    """The effective weight of the KL term relative to the textbook ELBO (where the weight is 1).

    Args:
      regularizer: "kl", "none" or "mse" (without the KL term in the loss, its weight is 0).
      reduction: "report" (sum over the batch of the per-pixel mean) or "elbo".
      beta: the weight of the regulariser (with a schedule: the value it reaches).
      batch_size: B, images per step.
      image_size: P = H * W * C, the values per image the reconstruction sums or averages over.
      train_images: N, to give the weight on the last, smaller batch of an epoch (None: not given).
      beta_schedule: "constant", or the schedule that ramps beta up to its value.

    Returns:
      JSON-ready dict: `kl_weight` (the effective beta), `formula`, the inputs, and `last_batch`
      ({"images", "kl_weight"}) when N is not a multiple of B under the report's reduction.
    """
    audit = {"kl_weight": 0.0, "formula": "", "relative_to": "the textbook negative ELBO, sum over pixels of "
             "-log p(x|z) + KL(q(z|x) || p(z)) per image, averaged over the batch (KL weight 1)",
             "regularizer": regularizer, "reduction": reduction, "beta": float(beta), "batch_size": int(batch_size),
             "image_size": int(image_size), "beta_schedule": beta_schedule, "last_batch": None}
    if regularizer != "kl":
        audit["formula"] = f"0: --regularizer {regularizer} has no KL term in the loss"
        return audit
    if reduction == "report":
        audit["kl_weight"] = float(beta) * image_size / batch_size
        audit["formula"] = "beta * P / B"
        last = train_images % batch_size if train_images else 0
        if last:
            audit["last_batch"] = {"images": last, "kl_weight": float(beta) * image_size / last}
    else:
        audit["kl_weight"] = float(beta)
        audit["formula"] = "beta"
    return audit


def describe(audit: dict) -> str:
    """One line: 'loss audit: KL weight 6.125 x the textbook ELBO's (beta 1 * 784 values / batch 128, ...)'."""
    if audit["regularizer"] != "kl":
        return f"loss audit: KL weight 0 (--regularizer {audit['regularizer']}: no KL term in the loss)"
    if audit["formula"] == "beta":
        how = f"beta {audit['beta']:g}, reduction elbo"
    else:
        how = (f"beta {audit['beta']:g} * {audit['image_size']} values per image / batch {audit['batch_size']}, "
               f"reduction {audit['reduction']}")
        if audit["last_batch"]:
            how += f"; {audit['last_batch']['kl_weight']:.4g} on the last batch of {audit['last_batch']['images']}"
    schedule = "" if audit["beta_schedule"] == "constant" else f", reached by the {audit['beta_schedule']} schedule"
    return f"loss audit: KL weight {audit['kl_weight']:.4g} x the textbook ELBO's ({how}{schedule})"
