/* Checkout page: "submitting" shows a confirmation without leaving the page. */
(function () {
  'use strict';
  var form = document.getElementById('checkout-form');
  var confirmation = document.getElementById('confirmation');
  var text = document.getElementById('confirmation-text');
  if (!form) return;

  form.addEventListener('submit', function (ev) {
    ev.preventDefault();
    var name = (form.elements.name.value || '').trim() || 'friend';
    var shipping = form.querySelector('input[name="shipping"]:checked');
    var order = Math.floor(100000 + Math.random() * 900000);
    // Never echo payment details back into the page.
    if (text) {
      text.textContent = 'Thanks, ' + name + '! Order #' + order + ' is confirmed with ' +
        (shipping ? shipping.value : 'standard') + ' shipping' + (form.elements.gift.checked ? ' (gift wrapped).' : '.');
    }
    if (confirmation) {
      confirmation.hidden = false;
      confirmation.scrollIntoView({ block: 'nearest' });
    }
    if (window.DemoCart) window.DemoCart.clear();
  });
})();
