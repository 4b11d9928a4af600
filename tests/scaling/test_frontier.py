import numpy as np

from florenz.scaling.frontier import frontier_masks, pareto_frontier, staircase


def test_frontier_of_a_hand_made_set():
    # walking up in C, a point is on the frontier when it sets a new lowest loss
    compute = np.array([4.0, 1.0, 6.0, 2.0, 3.0, 5.0, 3.0])
    loss = np.array([4.0, 5.0, 3.6, 6.0, 4.0, 3.5, 4.5])
    #                on   on   off  off  on   on   off (same C as a lower point)
    assert pareto_frontier(compute, loss).tolist() == [False, True, False, False, True, True, False]


def test_a_tie_in_loss_is_not_a_new_frontier_point_and_weights_drop_rows():
    compute = np.array([1.0, 2.0, 3.0])
    loss = np.array([2.0, 2.0, 1.0])
    assert pareto_frontier(compute, loss).tolist() == [True, False, True]
    # without the first row the second one leads
    assert pareto_frontier(compute, loss, np.array([0, 1, 1])).tolist() == [False, True, True]


def test_bootstrap_frontiers_keep_each_resample_weight_on_its_own_frontier():
    compute = np.array([1.0, 2.0, 3.0])
    loss = np.array([3.0, 2.0, 2.5])
    weights = np.array([[2.0, 0.0, 1.0], [0.0, 1.0, 3.0]])
    assert frontier_masks(compute, loss, weights).tolist() == [[2.0, 0.0, 1.0], [0.0, 1.0, 0.0]]


def test_staircase_is_the_running_minimum_in_compute_order():
    xs, ys = staircase(np.array([3.0, 1.0, 2.0]), np.array([1.0, 3.0, 4.0]))
    assert xs.tolist() == [1.0, 2.0, 3.0] and ys.tolist() == [3.0, 3.0, 1.0]
