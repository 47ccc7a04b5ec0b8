//! The methods every single-child, order-keeping pass-through plan node of
//! this crate shares (the guard and the policy barrier): one child, its
//! order kept, no expressions of its own, no wish for more partitions.

/// Expands, inside an `impl ExecutionPlan`, to `name`, `properties`,
/// `children`, `maintains_input_order`, `benefits_from_input_partitioning`,
/// `apply_expressions` and `with_new_children` (rebuilt with `$rebuild`,
/// a function of the node and its new child).
macro_rules! one_child_node {
    ($name:literal, $rebuild:expr) => {
        fn name(&self) -> &str {
            $name
        }

        fn properties(&self) -> &std::sync::Arc<datafusion::physical_plan::PlanProperties> {
            &self.properties
        }

        fn children(&self) -> Vec<&std::sync::Arc<dyn datafusion::physical_plan::ExecutionPlan>> {
            vec![&self.input]
        }

        fn maintains_input_order(&self) -> Vec<bool> {
            vec![true]
        }

        fn benefits_from_input_partitioning(&self) -> Vec<bool> {
            vec![false]
        }

        fn apply_expressions(
            &self,
            _f: &mut dyn FnMut(
                &std::sync::Arc<dyn datafusion::physical_expr::PhysicalExpr>,
            ) -> datafusion::common::Result<
                datafusion::common::tree_node::TreeNodeRecursion,
            >,
        ) -> datafusion::common::Result<datafusion::common::tree_node::TreeNodeRecursion> {
            Ok(datafusion::common::tree_node::TreeNodeRecursion::Continue)
        }

        fn with_new_children(
            self: std::sync::Arc<Self>,
            mut children: Vec<std::sync::Arc<dyn datafusion::physical_plan::ExecutionPlan>>,
        ) -> datafusion::common::Result<std::sync::Arc<dyn datafusion::physical_plan::ExecutionPlan>>
        {
            match (children.pop(), children.is_empty()) {
                (Some(child), true) => Ok(std::sync::Arc::new(($rebuild)(&*self, child))),
                _ => datafusion::common::internal_err!(concat!($name, " has exactly one child")),
            }
        }
    };
}

pub(crate) use one_child_node;
