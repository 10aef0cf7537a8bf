"""The subject splits of each dataset: who trains, who is held out to pick the best epoch, who is tested."""
from __future__ import annotations

H36M_TRAIN_SUBJECTS = ("S1", "S5", "S6", "S7", "S8")
H36M_TEST_SUBJECTS = ("S9", "S11")
H36M_VALIDATION_SUBJECTS = ("S8",)  # held out from the training subjects to pick the best epoch
EMBEDDED_TRAIN_SUBJECTS = H36M_TRAIN_SUBJECTS
EMBEDDED_TEST_SUBJECTS = H36M_TEST_SUBJECTS
EMBEDDED_VALIDATION_SUBJECTS = H36M_VALIDATION_SUBJECTS
#: The embedded dataset's unseen-motion split: these whole clips are held out of training and validation and form the
#: test set (on the test subjects). One clip from each family, chosen before any result of the split was seen, each
#: with a relative left in training so that the family is known but the motion is not: locomotion ``run`` (``walk``
#: stays), martial arts ``spinkick`` (``kick``, ``punch``), acrobatics ``cartwheel`` (``backflip``, ``jump``,
#: ``spin``), floor motions ``getup_facedown`` (``getup_faceup``, ``crawl``, ``roll``). The dances stay in training.
EMBEDDED_UNSEEN_MOTIONS = ("run", "spinkick", "cartwheel", "getup_facedown")
HUMANEVA_TRAIN_SUBJECTS = ("Train/S1", "Train/S2", "Train/S3")
HUMANEVA_TEST_SUBJECTS = ("Validate/S1", "Validate/S2", "Validate/S3")
HUMANEVA_VALIDATION_SUBJECTS = ("Train/S3",)
