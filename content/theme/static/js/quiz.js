/* Client-side feedback for quizzes rendered by partials/quiz.html:
   <form class="quiz" data-quiz-id>, one <fieldset class="quiz-question"
   data-answer="N"> per question with radio buttons valued 0..n-1. */
(function () {
  'use strict';

  function questionsOf(form) {
    return form.querySelectorAll('.quiz-question');
  }

  function choicesOf(question) {
    return question.querySelectorAll('.quiz-choice');
  }

  function clearQuestion(question) {
    question.classList.remove('is-correct', 'is-incorrect', 'is-unanswered');
    var choices = choicesOf(question);
    for (var i = 0; i < choices.length; i++) {
      choices[i].classList.remove('is-correct', 'is-wrong');
    }
    var feedback = question.querySelector('.quiz-feedback');
    if (feedback) feedback.textContent = '';
    var explanation = question.querySelector('.quiz-explanation');
    if (explanation) explanation.hidden = true;
  }

  function choiceNode(question, index) {
    return question.querySelector('.quiz-choice[data-choice="' + index + '"]');
  }

  /* Marks one question; returns "correct", "incorrect" or "unanswered". */
  function checkQuestion(question) {
    clearQuestion(question);
    var answer = parseInt(question.getAttribute('data-answer'), 10);
    var checked = question.querySelector('input[type="radio"]:checked');
    var feedback = question.querySelector('.quiz-feedback');
    var explanation = question.querySelector('.quiz-explanation');

    if (!checked) {
      question.classList.add('is-unanswered');
      if (feedback) feedback.textContent = 'Choose an answer first.';
      return 'unanswered';
    }

    var picked = parseInt(checked.value, 10);
    var right = choiceNode(question, answer);
    var ok = picked === answer;
    question.classList.add(ok ? 'is-correct' : 'is-incorrect');
    if (right) right.classList.add('is-correct');
    if (!ok) {
      var wrong = choiceNode(question, picked);
      if (wrong) wrong.classList.add('is-wrong');
    }
    if (feedback) {
      feedback.textContent = ok ? 'Correct!' : 'Not quite. The correct answer is highlighted.';
    }
    if (explanation) explanation.hidden = false;
    return ok ? 'correct' : 'incorrect';
  }

  function setScore(form, correct, total, unanswered) {
    var score = form.querySelector('.quiz-score');
    if (!score) return;
    score.classList.toggle('is-perfect', correct === total && total > 0);
    var text = correct + ' of ' + total + ' correct';
    if (correct === total && total > 0) text += ' \u2014 well done!';
    else if (unanswered) text += ' (' + unanswered + ' unanswered)';
    score.textContent = text;
  }

  function checkQuiz(form) {
    var questions = questionsOf(form);
    var correct = 0;
    var unanswered = 0;
    for (var i = 0; i < questions.length; i++) {
      var result = checkQuestion(questions[i]);
      if (result === 'correct') correct++;
      else if (result === 'unanswered') unanswered++;
    }
    setScore(form, correct, questions.length, unanswered);
    var reset = form.querySelector('.quiz-reset');
    if (reset) reset.hidden = false;
    form.setAttribute('data-checked', 'true');
  }

  function resetQuiz(form) {
    var questions = questionsOf(form);
    for (var i = 0; i < questions.length; i++) clearQuestion(questions[i]);
    var score = form.querySelector('.quiz-score');
    if (score) {
      score.textContent = '';
      score.classList.remove('is-perfect');
    }
    var reset = form.querySelector('.quiz-reset');
    if (reset) reset.hidden = true;
    form.removeAttribute('data-checked');
  }

  function initQuiz(form) {
    form.addEventListener('submit', function (event) {
      event.preventDefault();
      checkQuiz(form);
    });

    // Native reset clears the radios; clear our marks too (after it ran).
    form.addEventListener('reset', function () {
      window.setTimeout(function () {
        resetQuiz(form);
        var first = form.querySelector('input[type="radio"]');
        if (first) first.focus();
      }, 0);
    });

    // Changing an answer after checking clears that question's marks,
    // so stale feedback never sits next to a new choice.
    form.addEventListener('change', function (event) {
      var target = event.target;
      if (!target || target.type !== 'radio' || !form.hasAttribute('data-checked')) return;
      var question = target.closest ? target.closest('.quiz-question') : null;
      if (question) clearQuestion(question);
    });
  }

  function init() {
    var forms = document.querySelectorAll('form.quiz');
    for (var i = 0; i < forms.length; i++) initQuiz(forms[i]);
  }

  if (document.readyState === 'loading') document.addEventListener('DOMContentLoaded', init);
  else init();
})();
