"""Metrics of a model's predictions (NumPy, outside the training loop): per-class
precision/recall/F1 and the confusion matrix for classifiers, ROC AUC for binary
ones, RMSE/MAE/R² for regression. ``fastnet evaluate`` and the test set of a run use
them."""
import numpy as np


def confusion_matrix(y_true, y_pred, n_classes):
    """cm[i, j] = number of samples of class i predicted as j."""
    cm = np.zeros((n_classes, n_classes), np.int64)
    np.add.at(cm, (np.asarray(y_true, np.int64), np.asarray(y_pred, np.int64)), 1)
    return cm


def per_class(cm):
    """(precision, recall, f1, support) per class of a confusion matrix (0 where undefined)."""
    tp = np.diag(cm).astype(np.float64)
    predicted, support = cm.sum(axis=0), cm.sum(axis=1)
    precision = np.divide(tp, predicted, out=np.zeros_like(tp), where=predicted > 0)
    recall = np.divide(tp, support, out=np.zeros_like(tp), where=support > 0)
    total = precision + recall
    f1 = np.divide(2 * precision * recall, total, out=np.zeros_like(tp), where=total > 0)
    return precision, recall, f1, support


def roc_auc(y_true, score):
    """Area under the ROC curve of scores for the positive class 1 (ties count half):
    the Mann-Whitney U statistic over the positives and negatives; NaN with one class."""
    y_true = np.asarray(y_true).astype(bool)
    n_pos, n_neg = int(y_true.sum()), int((~y_true).sum())
    if not n_pos or not n_neg:
        return float("nan")
    order = np.argsort(score, kind="mergesort")
    s = np.asarray(score)[order]
    ranks = np.empty(len(s))
    starts = np.flatnonzero(np.r_[True, s[1:] != s[:-1]])
    ends = np.r_[starts[1:], len(s)]
    for a, b in zip(starts, ends):   # tied scores share their mean rank
        ranks[a:b] = (a + b + 1) / 2
    rank_of = np.empty(len(s))
    rank_of[order] = ranks
    return float((rank_of[y_true].sum() - n_pos * (n_pos + 1) / 2) / (n_pos * n_neg))


def binary(y_true, proba):
    """Accuracy, precision, recall, F1 of class 1 at threshold 0.5, and ROC AUC."""
    y_true = np.asarray(y_true, np.int64).reshape(-1)
    score = np.asarray(proba, np.float64).reshape(-1)
    pred = (score > 0.5).astype(np.int64)
    precision, recall, f1, _ = per_class(confusion_matrix(y_true, pred, 2))
    return {"accuracy": float((pred == y_true).mean()), "precision": float(precision[1]),
            "recall": float(recall[1]), "f1": float(f1[1]), "roc_auc": roc_auc(y_true, score)}


def regression(y_true, y_pred):
    """RMSE, MAE and R² (1 - SSE/SST over all outputs; NaN when the targets are constant)."""
    t = np.asarray(y_true, np.float64).reshape(len(y_true), -1)
    p = np.asarray(y_pred, np.float64).reshape(len(y_true), -1)
    err = p - t
    sst = ((t - t.mean(axis=0)) ** 2).sum()
    r2 = 1 - (err ** 2).sum() / sst if sst > 0 else float("nan")
    return {"rmse": float(np.sqrt((err ** 2).mean())), "mae": float(np.abs(err).mean()),
            "r2": float(r2)}
