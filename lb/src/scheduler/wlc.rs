//! Weighted least connections (IPVS `wlc`): the eligible backend with the
//! fewest active flows per unit of weight; ties go to the heavier one.

use super::{Backend, Scheduler};

#[derive(Debug, Default)]
pub struct WeightedLeastConnections;

impl Scheduler for WeightedLeastConnections {
    fn update(&mut self, _backends: &[Backend]) {}

    fn pick(&mut self, _key: u64, backends: &[Backend]) -> Option<usize> {
        // a.active / a.weight < b.active / b.weight, without division.
        backends
            .iter()
            .enumerate()
            .filter(|(_, b)| b.eligible())
            .min_by(|(_, a), (_, b)| {
                let left = u64::from(a.active) * u64::from(b.weight);
                let right = u64::from(b.active) * u64::from(a.weight);
                left.cmp(&right).then(b.weight.cmp(&a.weight))
            })
            .map(|(i, _)| i)
    }
}

#[cfg(test)]
mod tests {
    use super::super::testing::pool;
    use super::*;

    #[test]
    fn fewest_flows_per_weight_wins() {
        let mut backends = pool(3, 1);
        backends[0].active = 4;
        backends[1].active = 2;
        backends[2].active = 3;
        let mut s = WeightedLeastConnections;
        assert_eq!(s.pick(0, &backends), Some(1));
        backends[2].weight = 2; // 3/2 < 2/1
        assert_eq!(s.pick(0, &backends), Some(2));
        // Filling up as flows arrive keeps the load proportional to weight.
        let mut backends = pool(2, 1);
        backends[1].weight = 3;
        for _ in 0..400 {
            let i = s.pick(0, &backends).unwrap();
            backends[i].active += 1;
        }
        assert_eq!((backends[0].active, backends[1].active), (100, 300));
    }
}
