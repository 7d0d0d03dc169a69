//! Optimal one-to-one assignment of tracks to detections.
//!
//! Input: the *feasible* pairs `(track, detection, similarity)` (IoU above its threshold and
//! inside the gate); output: the matching with the largest total similarity among feasible
//! pairs (a maximum-weight bipartite matching). Infeasible pairs are never matched.
//!
//! Solver: the Kuhn–Munkres (Hungarian) algorithm of the `pathfinding` crate (maintained,
//! no unsafe, generic over integer weights, already a dependency), on similarities scaled to
//! integers (`SIMILARITY_SCALE`) because it needs `Ord` weights. Hungarian is O(n³), so the
//! problem is first split into connected components of the feasibility graph: boxes only
//! compete with boxes they overlap, so 1000 spread-out objects are 1000 tiny problems, not
//! one 1000×1000 one.

use pathfinding::kuhn_munkres::kuhn_munkres;
use pathfinding::matrix::Matrix;

/// Similarities in [0, 1] become integers in [0, SIMILARITY_SCALE]: 1e-6 resolution.
const SIMILARITY_SCALE: f64 = 1e6;

/// Up to this many candidates, `assign` first checks (pairwise, no allocation) whether they
/// already form a matching.
const SMALL_DISTINCT_CHECK: usize = 32;

/// A candidate match.
#[derive(Debug, Clone, Copy, PartialEq)]
pub struct Candidate {
    pub row: usize,
    pub col: usize,
    /// In (0, 1]; larger is better.
    pub similarity: f64,
}

fn find(parent: &mut [usize], mut i: usize) -> usize {
    while parent[i] != i {
        parent[i] = parent[parent[i]];
        i = parent[i];
    }
    i
}

/// The maximum-similarity matching among `candidates` over `rows` tracks and `cols`
/// detections, as `(row, col)` pairs sorted by row. Candidates with indices out of range or a
/// non-finite or non-positive similarity are ignored (they cannot be part of a match).
pub fn assign(rows: usize, cols: usize, candidates: &[Candidate]) -> Vec<(usize, usize)> {
    if let [only] = candidates {
        let ok = only.row < rows
            && only.col < cols
            && only.similarity.is_finite()
            && only.similarity > 0.0;
        return if ok {
            vec![(only.row, only.col)]
        } else {
            Vec::new()
        };
    }
    if candidates.is_empty() {
        return Vec::new();
    }
    let valid: Vec<Candidate> = candidates
        .iter()
        .copied()
        .filter(|c| c.row < rows && c.col < cols && c.similarity.is_finite() && c.similarity > 0.0)
        .collect();
    // The common case at normal densities: no track and no detection appears twice, so every
    // candidate is a component of its own and the matching is the candidates themselves (what
    // the general path below returns too), without its per-component bookkeeping.
    if valid.len() <= SMALL_DISTINCT_CHECK {
        let distinct = valid.iter().enumerate().all(|(i, a)| {
            valid[i + 1..]
                .iter()
                .all(|b| a.row != b.row && a.col != b.col)
        });
        if distinct {
            let mut matches: Vec<(usize, usize)> = valid.iter().map(|c| (c.row, c.col)).collect();
            matches.sort_unstable();
            return matches;
        }
    }
    // Union-find over rows (0..rows) and columns (rows..rows+cols).
    let mut parent: Vec<usize> = (0..rows + cols).collect();
    for c in &valid {
        let (a, b) = (find(&mut parent, c.row), find(&mut parent, rows + c.col));
        if a != b {
            parent[a] = b;
        }
    }
    // Group candidates by component root, keeping first-seen order for determinism.
    let mut component_of_root: Vec<Option<usize>> = vec![None; rows + cols];
    let mut components: Vec<Vec<Candidate>> = Vec::new();
    for c in &valid {
        let root = find(&mut parent, c.row);
        let k = *component_of_root[root].get_or_insert_with(|| {
            components.push(Vec::new());
            components.len() - 1
        });
        components[k].push(*c);
    }
    let mut matches = Vec::new();
    for comp in &components {
        solve_component(comp, &mut matches);
    }
    matches.sort_unstable();
    matches
}

fn solve_component(comp: &[Candidate], out: &mut Vec<(usize, usize)>) {
    if let [only] = comp {
        out.push((only.row, only.col));
        return;
    }
    let mut row_ids: Vec<usize> = comp.iter().map(|c| c.row).collect();
    let mut col_ids: Vec<usize> = comp.iter().map(|c| c.col).collect();
    row_ids.sort_unstable();
    row_ids.dedup();
    col_ids.sort_unstable();
    col_ids.dedup();
    // kuhn_munkres needs rows <= columns: put the smaller side on the rows.
    let transposed = row_ids.len() > col_ids.len();
    let (n_small, n_large) = if transposed {
        (col_ids.len(), row_ids.len())
    } else {
        (row_ids.len(), col_ids.len())
    };
    let mut weights = vec![0i64; n_small * n_large];
    let mut feasible = vec![false; n_small * n_large];
    for c in comp {
        // Both ids are present by construction of row_ids / col_ids.
        let (Ok(r), Ok(k)) = (row_ids.binary_search(&c.row), col_ids.binary_search(&c.col)) else {
            continue;
        };
        let (i, j) = if transposed { (k, r) } else { (r, k) };
        let w = (c.similarity.min(1.0) * SIMILARITY_SCALE).round() as i64;
        // Duplicate candidates for one pair: keep the best.
        if w > weights[i * n_large + j] || !feasible[i * n_large + j] {
            weights[i * n_large + j] = w.max(1);
        }
        feasible[i * n_large + j] = true;
    }
    // A component has at least one candidate, so both sides are non-empty and from_vec cannot
    // fail; fall back to nothing rather than panic if that ever changes.
    let Ok(matrix) = Matrix::from_vec(n_small, n_large, weights) else {
        return;
    };
    let (_, assignment) = kuhn_munkres(&matrix);
    for (i, &j) in assignment.iter().enumerate() {
        // Infeasible pairs carry weight 0; the solver may still pair them to complete the
        // assignment, which we drop.
        if !feasible[i * n_large + j] {
            continue;
        }
        let (r, k) = if transposed { (j, i) } else { (i, j) };
        out.push((row_ids[r], col_ids[k]));
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn c(row: usize, col: usize, similarity: f64) -> Candidate {
        Candidate {
            row,
            col,
            similarity,
        }
    }

    #[test]
    fn optimal_not_greedy() {
        // Greedy takes (0,0)=0.9 and leaves row 1 unmatched; optimal is 0.8 + 0.7.
        let m = assign(2, 2, &[c(0, 0, 0.9), c(0, 1, 0.8), c(1, 0, 0.7)]);
        assert_eq!(m, vec![(0, 1), (1, 0)]);
    }

    #[test]
    fn rectangular_both_ways_and_empty() {
        assert_eq!(assign(0, 3, &[]), vec![]);
        assert_eq!(assign(3, 0, &[]), vec![]);
        let m = assign(3, 1, &[c(0, 0, 0.3), c(1, 0, 0.6), c(2, 0, 0.5)]);
        assert_eq!(m, vec![(1, 0)]);
        let m = assign(1, 3, &[c(0, 0, 0.3), c(0, 1, 0.6), c(0, 2, 0.5)]);
        assert_eq!(m, vec![(0, 1)]);
        // 3 rows x 2 cols with full candidates.
        let m = assign(
            3,
            2,
            &[
                c(0, 0, 0.5),
                c(0, 1, 0.4),
                c(1, 0, 0.9),
                c(1, 1, 0.2),
                c(2, 1, 0.6),
            ],
        );
        assert_eq!(m, vec![(1, 0), (2, 1)]);
    }

    #[test]
    fn infeasible_pairs_never_matched() {
        // Rows 0, 1 both only want col 0; row 1 gets nothing rather than an infeasible col 1.
        let m = assign(2, 2, &[c(0, 0, 0.9), c(1, 0, 0.5), c(0, 1, 0.1)]);
        // Optimal: (0,1)=0.1 + (1,0)=0.5 = 0.6 < (0,0)=0.9 alone.
        assert_eq!(m, vec![(0, 0)]);
        let m = assign(2, 2, &[c(0, 0, f64::NAN), c(1, 1, 0.0), c(5, 0, 1.0)]);
        assert_eq!(m, vec![]);
    }

    #[test]
    fn independent_components() {
        let mut cands = Vec::new();
        for i in 0..50 {
            cands.push(c(i, 49 - i, 0.5));
        }
        let m = assign(50, 50, &cands);
        assert_eq!(m.len(), 50);
        assert!(m.iter().all(|&(r, k)| k == 49 - r));
    }
}
