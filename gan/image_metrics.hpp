#pragma once
// The sample-quality scores of image GANs beside the Fréchet distance (gan/frechet.hpp), in the
// formulas of the Inception Score and of the kernel inception distance but in the features of the
// project's own classifier (gan/classifier.hpp), not Inception's: comparable only between runs that
// use the same classifier file.
#include "core/types.hpp"

namespace dposg::gan {

// exp( (1/n) sum_j KL(p_j || p_bar) ), p_j = column j of probs (classes x n, each column a
// distribution), p_bar their mean; 0 log 0 = 0. 1 when every p_j is the same, K when the p_j are
// one-hot and spread evenly over K classes. (Salimans et al. 2016.)
double inception_score(const Matrix& probs);

// The unbiased estimate of the squared MMD between the laws of the columns of A (d x n) and B
// (d x m), polynomial kernel k(x, y) = (x.y / d + 1)^3 (Bińkowski et al. 2018):
//   sum_{i != i'} k(a_i, a_i') / (n (n - 1)) + sum_{j != j'} k(b_j, b_j') / (m (m - 1)) - 2 sum_{i, j} k(a_i, b_j) / (n m).
// Needs n, m >= 2; may be negative when the laws agree.
double kernel_distance(const Matrix& A, const Matrix& B);

}  // namespace dposg::gan
