/**
 * The majority vote among a point's k nearest neighbours. A tie goes to the tied class
 * whose nearest member comes first (neighbours are given nearest first), so the vote is
 * a function of the ordered neighbour list alone.
 */
export function vote(neighbourLabels, classes) {
  const counts = new Int32Array(classes);
  for (const label of neighbourLabels) counts[label]++;
  const most = Math.max(...counts);
  return neighbourLabels.find((label) => counts[label] === most);
}
