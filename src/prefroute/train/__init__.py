"""Training: battles from every source, recipes, ratings and tiers, decontamination,
the training pipeline behind `prefroute train`, and judge labelling (`label`)."""

__all__: list[str] = []
