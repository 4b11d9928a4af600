"""The two functional forms of a scaling law and how each is fitted, with intervals.

A law predicts a loss y from positive variables x_1..x_k (law 1: C; law 2: P, S, T):
- log-linear (the paper's): log10 y = c0 + Σ c_j · log10 x_j, fitted by (weighted) OLS; 95% intervals and
  two-sided p-values from Student's t, as the paper reports them;
- saturating: y = e + a · Π x_j^b_j with e >= 0 the irreducible loss, fitted as in Chinchilla (Hoffmann et
  al. 2022, §D.2) and its replication (Besiroglu et al. 2024): parameters in log space (E = ln e,
  A = ln a), log y predicted as logsumexp(E, A + Σ b_j ln x_j), Huber loss on the log residuals, L-BFGS-B
  (scipy) from the best points of a grid of starts, the best optimum kept.

Both forms get bootstrap samples of their parameters from row weights (B, n) that the caller draws by
resampling whole runs; a resample refits the saturating form from the full fit's optimum (a warm start:
resamples stay near it), the log-linear form in one batched solve. Parameters are kept in reported units:
log-linear [c0, c1..ck], saturating [e, a, b1..bk]; `predict` evaluates either for one or many parameter
vectors at once.
"""

from __future__ import annotations

import itertools
from dataclasses import dataclass, field

import numpy as np
from scipy import optimize, stats
from threadpoolctl import threadpool_limits

LOG_LINEAR, SATURATING = "log_linear", "saturating"
EXPONENT_BOUND = 5.0  # |b_j| beyond this is a fit that ran away, not a scaling exponent
GRID_EXPONENTS = (-0.6, -0.2, -0.05, 0.2)  # starts for every exponent; T's may be positive
GRID_FLOOR_FRACTIONS = (0.0, 0.3, 0.6, 0.9)  # starts for e, as fractions of the smallest loss
GRID_KEPT = 6  # L-BFGS runs from this many best grid points


@dataclass
class FormFit:
    """One form fitted to one set of points: values, 95% intervals, bootstrap samples, quality."""

    form: str
    values: np.ndarray  # (m,) reported units; NaN where the fit did not converge
    low: np.ndarray  # (m,)
    high: np.ndarray  # (m,)
    samples: np.ndarray  # (B_ok, m) bootstrap parameter samples that converged
    r2: float  # of log10 y over the fitted points
    converged: bool
    message: str = ""
    p_values: np.ndarray | None = None  # log-linear only
    bootstrap_failed: int = 0
    extra: dict = field(default_factory=dict)


def predict(form: str, params: np.ndarray, x: np.ndarray) -> np.ndarray:
    """Loss at x (n, k) for parameters (m,) -> (n,), or for (B, m) -> (B, n)."""
    params = np.asarray(params, dtype=float)
    log_x = np.log(np.asarray(x, dtype=float))  # (n, k)
    if form == LOG_LINEAR:
        return 10 ** (params[..., :1] + params[..., 1:] @ log_x.T / np.log(10))
    e, a, b = params[..., :1], params[..., 1:2], params[..., 2:]
    with np.errstate(divide="ignore"):
        return e + np.exp(np.log(a) + b @ log_x.T)


def _r2(log10_y: np.ndarray, log10_pred: np.ndarray, weights: np.ndarray) -> float:
    mean = np.average(log10_y, weights=weights)
    total = np.sum(weights * (log10_y - mean) ** 2)
    return float(1 - np.sum(weights * (log10_y - log10_pred) ** 2) / total) if total > 0 else float("nan")


def _percentiles(samples: np.ndarray, m: int) -> tuple[np.ndarray, np.ndarray]:
    if len(samples) < 2:
        return np.full(m, np.nan), np.full(m, np.nan)
    return np.percentile(samples, 2.5, axis=0), np.percentile(samples, 97.5, axis=0)


# --- log-linear: OLS --------------------------------------------------------------------------------------

def _design(x: np.ndarray) -> np.ndarray:
    return np.column_stack([np.ones(len(x)), np.log10(x)])  # (n, k + 1)


def fit_log_linear(x: np.ndarray, y: np.ndarray, weights: np.ndarray, bootstrap: np.ndarray) -> FormFit:
    """Weighted OLS of log10 y on log10 x (weights are row counts: 0 drops a row); t intervals, p-values."""
    X, ly = _design(x), np.log10(y)
    m = X.shape[1]
    XtW = X.T * weights
    coef = np.linalg.solve(XtW @ X, XtW @ ly)
    residual = ly - X @ coef
    dof = weights.sum() - m
    sigma2 = np.sum(weights * residual ** 2) / dof
    covariance = sigma2 * np.linalg.inv(XtW @ X)
    se = np.sqrt(np.diag(covariance))
    t_crit = stats.t.ppf(0.975, dof)
    with np.errstate(divide="ignore", invalid="ignore"):
        p_values = 2 * stats.t.sf(np.abs(coef / se), dof)
    samples, failed = _log_linear_bootstrap(X, ly, bootstrap)
    return FormFit(LOG_LINEAR, coef, coef - t_crit * se, coef + t_crit * se, samples,
                   _r2(ly, X @ coef, weights), True, p_values=p_values, bootstrap_failed=failed,
                   extra={"dof": float(dof)})


def _log_linear_bootstrap(X: np.ndarray, ly: np.ndarray, bootstrap: np.ndarray) -> tuple[np.ndarray, int]:
    """All resamples in one batched solve of their normal equations; rank-deficient ones are dropped."""
    if len(bootstrap) == 0:
        return np.empty((0, X.shape[1])), 0
    gram = np.einsum("bn,ni,nj->bij", bootstrap, X, X)  # (B, m, m)
    moment = np.einsum("bn,ni,n->bi", bootstrap, X, ly)  # (B, m)
    full_rank = np.linalg.matrix_rank(gram) == X.shape[1]
    coef = np.linalg.solve(gram[full_rank], moment[full_rank][..., None])[..., 0]
    return coef, int((~full_rank).sum())


# --- saturating: Huber on log residuals, L-BFGS-B ---------------------------------------------------------

def _objective(theta: np.ndarray, u: np.ndarray, log_y: np.ndarray, weights: np.ndarray,
               delta: float) -> tuple[float, np.ndarray]:
    """Weighted Huber loss of ln ŷ - ln y and its gradient; theta = [E, A, b_1..b_k], u centred ln x."""
    power = theta[1] + u @ theta[2:]  # (n,)
    log_pred = np.logaddexp(theta[0], power)
    residual = log_pred - log_y
    small = np.abs(residual) <= delta
    loss = np.where(small, 0.5 * residual ** 2, delta * (np.abs(residual) - 0.5 * delta))
    slope = weights * np.clip(residual, -delta, delta)  # Huber'
    share_floor = np.exp(theta[0] - log_pred)  # d log_pred / dE; the power term gets the rest
    gradient = np.concatenate([[slope @ share_floor], [slope @ (1 - share_floor)],
                               (slope * (1 - share_floor)) @ u])
    scale = delta * weights.sum()  # keeps the objective near 1 so L-BFGS-B's tolerances mean something
    return float(weights @ loss) / scale, gradient / scale


def _grid(u: np.ndarray, log_y: np.ndarray, y_min: float) -> np.ndarray:
    """Starting points: every floor fraction × exponent combination, the amplitude set to fit the median."""
    starts = []
    k = u.shape[1]
    for fraction in GRID_FLOOR_FRACTIONS:
        floor = fraction * y_min
        log_excess = np.log(np.maximum(np.exp(log_y) - floor, 1e-12))
        for exponents in itertools.product(GRID_EXPONENTS, repeat=k):
            b = np.array(exponents)
            starts.append([np.log(max(floor, y_min * 1e-6)), np.median(log_excess - u @ b), *b])
    return np.array(starts)


def _grid_losses(starts: np.ndarray, u: np.ndarray, log_y: np.ndarray, weights: np.ndarray,
                 delta: float) -> np.ndarray:
    """The objective at every start at once: (G,)."""
    log_pred = np.logaddexp(starts[:, :1], starts[:, 1:2] + starts[:, 2:] @ u.T)  # (G, n)
    residual = np.abs(log_pred - log_y)
    loss = np.where(residual <= delta, 0.5 * residual ** 2, delta * (residual - 0.5 * delta))
    return loss @ weights


def _bounds(k: int, y_min: float, y_max: float) -> list[tuple[float | None, float | None]]:
    return [(np.log(y_min) - 25, np.log(y_max)), (None, None)] + [(-EXPONENT_BOUND, EXPONENT_BOUND)] * k


def _minimise(start: np.ndarray, u: np.ndarray, log_y: np.ndarray, weights: np.ndarray, delta: float,
              bounds: list, max_iterations: int) -> optimize.OptimizeResult:
    return optimize.minimize(_objective, start, args=(u, log_y, weights, delta), jac=True, method="L-BFGS-B",
                             bounds=bounds, options={"maxiter": max_iterations, "ftol": 1e-13, "gtol": 1e-9})


def _verdict(result: optimize.OptimizeResult, max_iterations: int) -> str:
    """'' if the optimum is usable, else why not."""
    if not np.all(np.isfinite(result.x)):
        return "the parameters became non-finite"
    if result.nit >= max_iterations:
        return f"L-BFGS-B stopped at its iteration limit ({max_iterations}) before converging"
    if np.any(np.abs(result.x[2:]) >= EXPONENT_BOUND - 1e-6):
        return f"an exponent ran to the bound ±{EXPONENT_BOUND:g}: the points do not pin down this form"
    # a line search that cannot improve at the optimum is L-BFGS-B's usual exit on a Huber loss's kinks
    if not result.success and "ABNORMAL" not in str(result.message):
        return f"L-BFGS-B did not converge ({result.message})"
    return ""


def _batched_losses(theta: np.ndarray, u: np.ndarray, log_y: np.ndarray, weights: np.ndarray,
                    delta: float) -> tuple[np.ndarray, np.ndarray, np.ndarray]:
    """For B parameter vectors (B, m) at once: Huber objectives (B,), log residuals and shares of e (B, n)."""
    log_pred = np.logaddexp(theta[:, :1], theta[:, 1:2] + theta[:, 2:] @ u.T)  # (B, n)
    residual = log_pred - log_y
    magnitude = np.abs(residual)
    loss = np.where(magnitude <= delta, 0.5 * residual ** 2, delta * (magnitude - 0.5 * delta))
    return (weights * loss).sum(1), residual, np.exp(theta[:, :1] - log_pred)


def _saturating_bootstrap(theta: np.ndarray, u: np.ndarray, log_y: np.ndarray, bootstrap: np.ndarray,
                          delta: float, bounds: list, max_iterations: int) -> tuple[np.ndarray, int]:
    """Refit every resample from the full fit's optimum, all at once: Levenberg-Marquardt steps on the
    Huber loss's iteratively reweighted least squares (weights ψ(r)/r, Huber 1981 §7.8), one batched
    (B, m, m) solve per iteration, each resample with its own damping. A resample still moving after
    `max_iterations` is refitted alone by L-BFGS-B; one that fails that too is counted, not kept."""
    count, m = len(bootstrap), len(theta)
    if count == 0:
        return np.empty((0, m)), 0
    low = np.array([-np.inf if bound[0] is None else bound[0] for bound in bounds])
    high = np.array([np.inf if bound[1] is None else bound[1] for bound in bounds])
    thetas = np.tile(theta, (count, 1))
    damping = np.full(count, 1e-3)
    active = np.ones(count, dtype=bool)
    objective, residual, share = _batched_losses(thetas, u, log_y, bootstrap, delta)
    for _ in range(max_iterations):
        if not active.any():
            break
        index = np.flatnonzero(active)
        w = bootstrap[index] * np.minimum(1, delta / np.maximum(np.abs(residual[index]), 1e-300))  # IRLS
        jacobian = np.concatenate([share[index, :, None], (1 - share[index])[..., None],
                                   (1 - share[index])[..., None] * u], axis=2)  # (b, n, m)
        gradient = np.einsum("bn,bn,bnm->bm", w, residual[index], jacobian)
        hessian = np.einsum("bn,bni,bnj->bij", w, jacobian, jacobian)
        scale = delta * bootstrap[index].sum(1)
        settled = np.abs(gradient / scale[:, None]).max(1) < 1e-8
        diagonal = np.einsum("bii->bi", hessian) + 1e-12
        # pinv, not solve: a resample can leave a direction without data (a zero row and column)
        step = (np.linalg.pinv(hessian + (damping[index, None] * diagonal)[..., None] * np.eye(m))
                @ -gradient[..., None])[..., 0]
        trial = np.clip(thetas[index] + step, low, high)
        trial_objective, trial_residual, trial_share = _batched_losses(trial, u, log_y, bootstrap[index],
                                                                       delta)
        better = trial_objective < objective[index]
        improved = index[better]
        progress = np.zeros(count, dtype=bool)
        progress[improved] = objective[improved] - trial_objective[better] > 1e-12 * objective[improved]
        thetas[improved], objective[improved] = trial[better], trial_objective[better]
        residual[improved], share[improved] = trial_residual[better], trial_share[better]
        damping[index] = np.where(better, damping[index] / 3, damping[index] * 4)
        stuck = ~better & (damping[index] > 1e8)  # no damped step lowers it: a (numerical) minimum
        active[index[settled | stuck]] = False
        active[improved[~progress[improved]]] = False
    kept, failed = [], 0
    for index in range(count):
        result = thetas[index]
        if active[index]:
            alone = _minimise(result, u, log_y, bootstrap[index], delta, bounds, max_iterations)
            if _verdict(alone, max_iterations):
                failed += 1
                continue
            result = alone.x
        if np.any(np.abs(result[2:]) >= EXPONENT_BOUND - 1e-6):
            failed += 1
            continue
        kept.append(result)
    return np.array(kept).reshape(-1, m), failed


def _reported(theta: np.ndarray, log_reference: np.ndarray) -> np.ndarray:
    """[E, A, b] in centred log space -> [e, a, b] with a in the units of x itself."""
    return np.concatenate([np.exp(theta[..., :1]),
                           np.exp(theta[..., 1:2] - theta[..., 2:] @ log_reference[:, None]),
                           theta[..., 2:]], axis=-1)


def fit_saturating(x: np.ndarray, y: np.ndarray, weights: np.ndarray, bootstrap: np.ndarray,
                   delta: float = 1e-3, max_iterations: int = 1000) -> FormFit:
    """y = e + a·Π x_j^b_j by Huber on log residuals from a grid of starts; bootstrap intervals."""
    log_x, log_y = np.log(x), np.log(y)
    used = weights > 0
    log_reference = np.average(log_x, axis=0, weights=weights)  # centring conditions the problem
    u = log_x - log_reference
    y_min, y_max = float(y[used].min()), float(y[used].max())
    bounds = _bounds(x.shape[1], y_min, y_max)
    starts = _grid(u[used], log_y[used], y_min)
    best_starts = starts[np.argsort(_grid_losses(starts, u, log_y, weights, delta))[:GRID_KEPT]]
    results = [_minimise(start, u, log_y, weights, delta, bounds, max_iterations) for start in best_starts]
    best = min(results, key=lambda result: result.fun if np.isfinite(result.fun) else np.inf)
    m = x.shape[1] + 2
    problem = _verdict(best, max_iterations)
    if problem:
        nan = np.full(m, np.nan)
        return FormFit(SATURATING, nan, nan, nan, np.empty((0, m)), float("nan"), False, problem)
    samples, failed = _saturating_bootstrap(best.x, u, log_y, bootstrap, delta, bounds, max_iterations)
    samples = _reported(samples, log_reference)
    low, high = _percentiles(samples, m)
    values = _reported(best.x, log_reference)
    log10_pred = np.log10(predict(SATURATING, values, x))
    return FormFit(SATURATING, values, low, high, samples, _r2(np.log10(y), log10_pred, weights), True,
                   bootstrap_failed=failed)


def fit_form(form: str, x: np.ndarray, y: np.ndarray, weights: np.ndarray, bootstrap: np.ndarray,
             delta: float = 1e-3, max_iterations: int = 1000) -> FormFit:
    """Either form on rows weighted by `weights` (0 leaves a row out), bootstrap resamples (B, n)."""
    # the problems are tiny: BLAS threads only add waiting (L-BFGS-B ran 30x slower on 2 busy cores)
    with threadpool_limits(limits=1):
        if form == LOG_LINEAR:
            return fit_log_linear(x, y, weights, bootstrap)
        return fit_saturating(x, y, weights, bootstrap, delta, max_iterations)


def parameter_count(form: str, k: int) -> int:
    return k + 1 if form == LOG_LINEAR else k + 2
